# One writer: every run directory -> results.duckdb (built in a temporary file, then renamed).
localrules:
    build_db,


# Labels come from each run's run.json (the workflow hands them to the job in its spec).
rule build_db:
    input:
        all_job_outputs(),
    output:
        "results.duckdb",
    params:
        run_dirs=list(RUNS),
    conda:
        "../envs/drol.yaml"
    log:
        "logs/build_db.log",
    shell:
        "drol build-db {params.run_dirs} --out {output} > {log} 2>&1"
