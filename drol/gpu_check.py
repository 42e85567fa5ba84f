"""`drol gpu-check`: what a GPU does with this code, in one command (under 8 minutes on an H100/H200).

1. `drol bench` on CUDA: paper-size FQL and DROL(16), an 8-seed DROL(16) block, and the toy-size cases, each
   eager, as a CUDA graph and compiled (drol.step), with the ratios.
2. The CUDA graph against eager updates: 50 updates of an 8-seed DROL(16) block from the same state, the
   largest difference of any weight and of any loss (CUDA kernels are not bit-reproducible across launch
   orders, so this is a size, not an equality).
3. A training run: 8 seeds of DROL(16) on cube-single task 1 as one block, `--steps` updates (default
   20,000), evaluating 50 episodes per seed at step 1, every 5,000 updates and the end, on a regenerated
   dataset in `--data-dir` (`drol gen-data cube-single-play-v0 --episodes N` makes one; it can be carried
   to a GPU machine instead of the generator). Needs ogbench (and its MuJoCo) for the evaluation episodes.

Everything measured goes into one JSON file (`--out`), written as soon as each part ends.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import replace
from pathlib import Path

TASK = "cube-single-play-singletask-task1-v0"
SEEDS = 8


def _write(out: Path, result: dict) -> None:
    from drol.io import write_json

    write_json(out, result)


def graph_against_eager(device, updates: int = 50) -> dict:
    """Weights and losses after `updates` of the same 8-seed block, eager vs CUDA graph."""
    import torch

    from drol.bench import BENCH_CASES, SHAPES, make_case, synthetic_dataset
    from drol.step import TrainStep

    shape = SHAPES[BENCH_CASES["drol16_s8"].size]
    data = synthetic_dataset(shape, device)
    results = {}
    for mode in ("eager", "graph"):
        agent = make_case("drol16_s8", device)
        generators = [torch.Generator(device=device).manual_seed(s) for s in range(SEEDS)]
        step = TrainStep(agent, data, generators, shape.batch_size, mode)
        losses = torch.stack([step()["total_loss"].clone() for _ in range(updates)])
        results[mode] = (losses, [p.detach().clone() for p in agent.parameters()], step.mode)
    (eager_losses, eager_params, _), (graph_losses, graph_params, used) = results["eager"], results["graph"]
    return {"updates": updates, "graph_mode_used": used,
            "max_abs_loss_diff": float((eager_losses - graph_losses).abs().max()),
            "max_abs_weight_diff": max(float((a - b).abs().max()) for a, b in zip(eager_params, graph_params))}


def training_run(device, data_dir: Path, steps: int, runs_root: Path, mode: str | None) -> dict:
    """8 seeds of DROL(16) on cube-single task 1 as one block; scores per evaluation and timing."""
    import pandas as pd

    from drol.config import resolve_run
    from drol.data import DataSettings
    from drol.train import train_block

    spec = resolve_run("drol", TASK, 0, {"steps": steps, "eval_interval": 5000, "log_interval": 1000,
                                         "val_interval": 5000, "checkpoint_interval": steps},
                       data=DataSettings(data_dir=str(data_dir)).for_task(TASK))
    specs = [replace(spec, seed=s) for s in range(SEEDS)]
    dirs = [s.run_dir(runs_root) for s in specs]
    start = time.perf_counter()
    statuses = train_block(specs, dirs, device=str(device), progress=False, mode=mode)
    wall = time.perf_counter() - start
    scores = pd.concat([pd.read_parquet(d / "evals.parquet").assign(seed=s.seed) for s, d in zip(specs, dirs)])
    curve = scores.groupby(["step", "seed"])["score"].mean().groupby("step").agg(["mean", "std", "count"])
    timing = json.loads((dirs[0] / "timing.json").read_text())
    return {"task": TASK, "seeds": SEEDS, "steps": steps, "statuses": statuses, "wall_s": wall,
            "ms_per_block_update": timing["ms_per_update"], "eval_env_steps_per_s": timing["eval_env_steps_per_s"],
            "dataset": json.loads((dirs[0] / "run.json").read_text())["dataset"]["info"],
            "success_by_step": {int(step): row.to_dict() for step, row in curve.iterrows()}}


def gpu_check(out: Path, data_dir: Path | None, steps: int, repeats: int, runs_root: Path,
              mode: str | None = None) -> dict:
    import torch

    from drol.bench import run_bench
    from drol.devices import resolve_device

    device = resolve_device("cuda")
    result = {"device": torch.cuda.get_device_name(device), "torch": torch.__version__, "cuda": torch.version.cuda,
              "python": platform.python_version()}
    _write(out, result)
    result["bench"] = run_bench(["fql", "drol16", "drol16_s8", "drol16_toy", "drol16_toy_s8"], repeats=repeats,
                                device=device)
    _write(out, result)
    result["graph_against_eager"] = graph_against_eager(device)
    _write(out, result)
    if data_dir is not None:
        result["training"] = training_run(device, data_dir, steps, runs_root, mode)
        _write(out, result)
    return result
