# Tables and figures: queries over results.duckdb (opened read-only), each with a caption for
# `snakemake --report report.html`. The figures are those of drol.reports.figures.FIGURES (the one list);
# each has its caption in workflow/report/<stem>.rst.
from drol.reports.figures import FIGURES


localrules:
    tables,


rule tables:
    input:
        "results.duckdb",
    output:
        table4=report("reports/table4.html", caption="../report/table4.rst", category="Tables"),
        table1=report("reports/table1.html", caption="../report/table1.rst", category="Tables"),
        stats=report("reports/stats.csv", caption="../report/stats.rst", category="Tables"),
        other=multiext("reports/table4", ".md", ".tex") + multiext("reports/table1", ".md", ".tex")
        + ["reports/stats.md", "reports/profiles.csv"],
    params:
        label=config.get("label", ""),
    conda:
        "../envs/drol.yaml"
    log:
        "logs/reports/tables.log",
    shell:
        'drol report tables --db {input} --out reports --label "{params.label}" > {log} 2>&1'


# One rule per figure of FIGURES, so that each carries its own caption in the HTML report.
for stem in FIGURES:

    rule:
        name:
            f"figure_{stem}"
        localrule: True
        input:
            "results.duckdb",
        output:
            png=report(f"reports/{stem}.png", caption=f"../report/{stem}.rst", category="Figures"),
            pdf=f"reports/{stem}.pdf",
        params:
            label=config.get("label", ""),
            stem=stem,
        conda:
            "../envs/drol.yaml"
        log:
            f"logs/reports/{stem}.log",
        shell:
            'drol report figures --only {params.stem} --db {input} --out reports --label "{params.label}" > {log} 2>&1'
