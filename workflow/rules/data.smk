# Datasets OGBench's scripted oracles can regenerate (cube, scene, puzzle, pointmaze), written to a
# directory named by the generation settings. Download-only datasets are checked before the run starts.
if config.get("data", {}).get("regenerate"):

    rule regenerate_dataset:
        output:
            train=f"{regenerated_dir(config)}/{{dataset}}.npz",
            val=f"{regenerated_dir(config)}/{{dataset}}-val.npz",
        wildcard_constraints:
            dataset=r"[a-z0-9-]+-v\d+",
        params:
            episodes=regen_settings()["episodes"],
            seed=regen_settings()["seed"],
            data_dir=subpath(output.train, parent=True),
        conda:
            "../envs/drol.yaml"
        log:
            "logs/data/{dataset}.log",
        shell:
            "drol gen-data {wildcards.dataset} --episodes {params.episodes} --seed {params.seed} "
            "--data-dir {params.data_dir} --no-progress > {log} 2>&1"
