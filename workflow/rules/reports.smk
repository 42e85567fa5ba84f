# Tables and figures: queries over results.duckdb (opened read-only), each with a caption for
# `snakemake --report report.html`. The figures are those of drol.reports.figures.FIGURES (the one list);
# each has its caption in workflow/report/<stem>.rst.
from drol.reports.figures import FIGURES
from drol.workflow import figure_files

# Each figure's files, from the run list: small multiples write a page per MAX_PANELS tasks
# (learning_curves, learning_curves_p2, ...), every page a declared output and in report.html.
FIGURE_FILES = figure_files(config, RUNS)


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
        note=config.get("label", ""),
    conda:
        "../envs/drol.yaml"
    log:
        "logs/reports/tables.log",
    shell:
        'drol report tables --db {input} --out reports --note "{params.note}" > {log} 2>&1'


# One rule per figure of FIGURES, so that each carries its own caption in the HTML report.
for stem in FIGURES:
    pages = FIGURE_FILES.get(stem, [stem])

    rule:
        name:
            f"figure_{stem}"
        localrule: True
        input:
            "results.duckdb",
        output:
            png=[
                report(
                    f"reports/{page}.png",
                    caption=f"../report/{stem}.rst",
                    category="Figures",
                    labels={"figure": stem, "page": f"{i} of {len(pages)}"},
                )
                for i, page in enumerate(pages, 1)
            ],
            pdf=[f"reports/{page}.pdf" for page in pages],
        params:
            note=config.get("label", ""),
            stem=stem,
        conda:
            "../envs/drol.yaml"
        log:
            f"logs/reports/{stem}.log",
        shell:
            'drol report figures --only {params.stem} --db {input} --out reports --note "{params.note}" > {log} 2>&1'
