# One job per block of seeds of one configuration (config `seeds_per_job`), trained as one batched
# computation; `params.spec` is the block's resolved runs (every hyperparameter and data setting), so changing
# one task's values reruns only that task's jobs. The output is the block's manifest, written when every seed
# has ended; each seed's results are in its own run directory beside it. A killed job resumes from each
# seed's checkpoint.pt when rerun; a rerun of a completed job (--forcerun) trains it again from step 0.
# What a run keeps when it ends (config `checkpoints`) reaches `drol train` as $DROL_CHECKPOINTS (set in the
# Snakefile), not as a param: it is no hyperparameter, and changing it must retrain nothing.
rule train:
    input:
        train_inputs,
    output:
        manifest="results/runs/{suite}/{task}/{tag}/seeds-{seeds}.json",
    wildcard_constraints:
        seeds=r"\d+(_\d+)*",
    params:
        spec=train_spec,
        runs_root=subpath(output.manifest, ancestor=4),
    conda:
        "../envs/drol.yaml"
    log:
        "logs/train/{suite}/{task}/{tag}/seeds-{seeds}.log",
    benchmark:
        "benchmarks/train/{suite}/{task}/{tag}/seeds-{seeds}.tsv"
    shell:
        "drol train --spec {params.spec} --runs-root {params.runs_root} --threads {threads} --no-progress > {log} 2>&1"
