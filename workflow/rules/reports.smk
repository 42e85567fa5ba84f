# Tables and figures: queries over results.duckdb (opened read-only), each with a caption for
# `snakemake --report report.html`.
localrules:
    tables,
    figure,


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


rule figure:
    input:
        "results.duckdb",
    output:
        png=report("reports/{figure}.png", caption="../report/{figure}.rst", category="Figures"),
        pdf="reports/{figure}.pdf",
    wildcard_constraints:
        figure="runtime|train_metrics_vs_k|k_sensitivity|routing|learning_curves",
    params:
        label=config.get("label", ""),
    conda:
        "../envs/drol.yaml"
    log:
        "logs/reports/{figure}.log",
    shell:
        'drol report figures --only {wildcards.figure} --db {input} --out reports --label "{params.label}" > {log} 2>&1'
