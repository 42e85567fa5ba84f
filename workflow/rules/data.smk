# Datasets OGBench's scripted oracles can regenerate (cube, scene, puzzle, pointmaze), written to a
# directory named by the generation settings. Download-only datasets are checked before the run starts.
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
