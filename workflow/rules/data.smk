import re
import shlex

from drol.data.fetch import DIR_OPTIONS

# Published datasets (OGBench's, D4RL's) the runs lack, one `drol fetch-data` job per file, when the config sets
# `data.download: true` (without it, common.smk stops with their URLs and the command). Only files missing now
# match these rules, so a dataset once present is never fetched again. Local rules: downloads run where
# Snakemake runs, since cluster compute nodes often have no internet access and login nodes do.
for _suite, (_directory, _names) in fetch_rules(FETCHES).items():

    rule:
        name:
            f"fetch_{_suite}"
        output:
            f"{_directory}/{{name}}",
        wildcard_constraints:
            name="|".join(re.escape(name) for name in _names),
        localrule: True
        conda:
            "../envs/drol.yaml"
        log:
            f"logs/data/fetch-{_suite}/{{name}}.log",
        params:
            # params are evaluated here; the shell command is formatted when the job runs, after the loop
            directory=f"{DIR_OPTIONS[_suite]} {shlex.quote(_directory)}",
        shell:
            "drol fetch-data {wildcards.name} {params.directory} --no-progress > {log} 2>&1"


# Datasets OGBench's scripted oracles can regenerate (cube, scene, puzzle, pointmaze), written to a
# directory named by the generation settings.
# With `data.regenerate.shards: N` a dataset is N parallel shard jobs (each deterministic from the seed and
# its episodes), merged into OGBench's two files; the merged bytes equal a one-job generation.
if config.get("data", {}).get("regenerate"):

    rule regenerate_shard:
        output:
            shard=temp(
                f"{regenerated_dir(config)}/shards/{{dataset}}-e{regen_settings()['episodes']}"
                f"-s{regen_settings()['seed']}-l{{length}}/{{shard}}-of-{{shards}}.npz"
            ),
            sidecar=temp(
                f"{regenerated_dir(config)}/shards/{{dataset}}-e{regen_settings()['episodes']}"
                f"-s{regen_settings()['seed']}-l{{length}}/{{shard}}-of-{{shards}}.npz.json"
            ),
        wildcard_constraints:
            dataset=r"[a-z0-9-]+-v\d+",
            length=r"\d+",
            shard=r"\d+",
            shards=r"\d+",
        params:
            episodes=regen_settings()["episodes"],
            seed=regen_settings()["seed"],
            data_dir=subpath(output.shard, ancestor=3),
        conda:
            "../envs/drol.yaml"
        log:
            "logs/data/{dataset}-l{length}-{shard}-of-{shards}.log",
        shell:
            "drol gen-data {wildcards.dataset} --episodes {params.episodes} --seed {params.seed} "
            "--shards {wildcards.shards} --shard {wildcards.shard} --data-dir {params.data_dir} "
            "--no-progress > {log} 2>&1"

    rule regenerate_dataset:
        input:
            lambda wildcards: shard_files(config, wildcards.dataset),
        output:
            train=f"{regenerated_dir(config)}/{{dataset}}.npz",
            val=f"{regenerated_dir(config)}/{{dataset}}-val.npz",
        wildcard_constraints:
            dataset=r"[a-z0-9-]+-v\d+",
        params:
            episodes=regen_settings()["episodes"],
            seed=regen_settings()["seed"],
            data_dir=subpath(output.train, parent=True),
            merge=merge_args(),
        conda:
            "../envs/drol.yaml"
        log:
            "logs/data/{dataset}.log",
        shell:
            "drol gen-data {wildcards.dataset} --episodes {params.episodes} --seed {params.seed} "
            "--data-dir {params.data_dir} {params.merge} --no-progress > {log} 2>&1"
