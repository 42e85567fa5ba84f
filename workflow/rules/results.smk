# One writer: every run directory -> results.duckdb (built in a temporary file, then renamed).
localrules:
    run_labels,
    build_db,


# The labels only the config knows (e.g. `runtime` for the timing runs), as JSON; rewritten when they change.
rule run_labels:
    output:
        "results/run_labels.json",
    params:
        labels=workflow_labels_json(),
    conda:
        "../envs/drol.yaml"
    log:
        "logs/run_labels.log",
    shell:
        "printf '%s\\n' '{params.labels}' > {output} 2> {log}"


rule build_db:
    input:
        runs=all_run_files(),
        labels="results/run_labels.json",
    output:
        "results.duckdb",
    params:
        run_dirs=list(RUNS),
    conda:
        "../envs/drol.yaml"
    log:
        "logs/build_db.log",
    shell:
        "drol build-db {params.run_dirs} --labels {input.labels} --out {output} > {log} 2>&1"
