# One job per distinct configuration; `params.spec` is the resolved run (every hyperparameter and data
# setting), so changing one task's values reruns only that task's jobs. A killed job resumes from its
# checkpoint.pt when rerun. The outputs are the files a run writes when it ends (run.json, written from the start, carries its live status).
rule train:
    input:
        train_inputs,
    output:
        evals="results/runs/{suite}/{task}/{tag}/seed{seed}/evals.parquet",
        metrics="results/runs/{suite}/{task}/{tag}/seed{seed}/train_metrics.parquet",
        timing="results/runs/{suite}/{task}/{tag}/seed{seed}/timing.json",
        snapshots="results/runs/{suite}/{task}/{tag}/seed{seed}/snapshots.parquet",
    wildcard_constraints:
        seed=r"\d+",
    params:
        spec=train_spec,
        run_dir=subpath(output.evals, parent=True),
    conda:
        "../envs/drol.yaml"
    log:
        "logs/train/{suite}/{task}/{tag}/seed{seed}.log",
    benchmark:
        "benchmarks/train/{suite}/{task}/{tag}/seed{seed}.tsv"
    shell:
        "drol train --spec {params.spec} --out {params.run_dir} --threads {threads} --no-progress > {log} 2>&1"
