from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float32)


def manual_mlp(x: torch.Tensor, weights, biases, ln_scales=None, ln_biases=None) -> torch.Tensor:
    """A plain re-implementation of one seed's member's MLP (parameters from `member_params`):
    Dense -> tanh-GELU -> [LayerNorm] per hidden layer. `x` is (..., in), with no seed dimension."""
    n = len(weights)
    for i in range(n):
        x = x @ weights[i] + biases[i]
        if i < n - 1:
            x = 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
            if ln_scales is not None:
                mean = x.mean(-1, keepdim=True)
                var = ((x - mean) ** 2).mean(-1, keepdim=True)
                x = (x - mean) / torch.sqrt(var + 1e-6) * ln_scales[i] + ln_biases[i]
    return x


def member_params(mlp, member: int = 0, seed: int = 0):
    """One member's parameters of one seed of a stacked MLP: (in, out) kernels, (out,) biases, (h,) LayerNorm
    scales and biases (None without LayerNorm)."""
    w = [p[seed, member] for p in mlp.weights]
    b = [p[seed, member, 0] for p in mlp.biases]
    if mlp.layer_norm:
        return w, b, [p[seed, member, 0] for p in mlp.ln_scales], [p[seed, member, 0] for p in mlp.ln_biases]
    return w, b, None, None


@pytest.fixture
def tiny_batch():
    g = torch.Generator().manual_seed(123)
    b, o, a = 6, 3, 2
    return {"observations": torch.randn(b, o, generator=g), "next_observations": torch.randn(b, o, generator=g),
            "actions": (torch.rand(b, a, generator=g) * 2 - 1) * 0.9, "rewards": torch.randn(b, generator=g),
            "masks": torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0, 1.0])}


def gelu_reference(x):
    return F.gelu(x, approximate="tanh")


EVAL_COLUMNS = ["step", "episode", "success", "return", "score", "length"]


def write_run_dir(root, spec, *, fingerprint: str, status: str = "finished", step: int | None = None,
                  evals=(), metrics=(), snapshots=(), timing: dict | None = None, route: str = "ogbench",
                  obs_dim: int = 3, action_dim: int = 2, snapshot_states=(), dataset_info: dict | None = None,
                  versions: dict | None = None) -> dict:
    """A run directory laid out as `drol train` writes it, with the given records (for database and report
    tests). Result files are written only for a run that ended; returns its run.json."""
    from dataclasses import asdict
    from json import dumps

    import pandas as pd

    from drol.tasks import get_task

    task = get_task(spec.task)
    run_dir = spec.run_dir(root)
    run_dir.mkdir(parents=True)
    run = {"run_id": spec.run_id(fingerprint), "method": spec.method, "label": spec.label,
           "labels": list(spec.labels), "spec": spec.to_dict(), "task": spec.task, "suite": task.suite,
           "family": task.family, "seed": spec.seed,
           "config": {"agent": asdict(spec.agent), "train": asdict(spec.train)}, "status": status,
           "step": spec.train.steps if step is None else step, "steps": spec.train.steps, "device": "cpu (test)",
           "versions": versions or {"python": "3.11"},
           "dataset": {"fingerprint": fingerprint, "route": route, "size": 1000, "val_size": 100,
                       "info": dataset_info or {}},
           "obs_dim": obs_dim, "action_dim": action_dim, "snapshot_states": list(snapshot_states)}
    (run_dir / "run.json").write_text(dumps(run, indent=2, sort_keys=True))
    if status == "running":
        return run
    pd.DataFrame(list(evals), columns=EVAL_COLUMNS).to_parquet(run_dir / "evals.parquet", index=False)
    pd.DataFrame(list(metrics), columns=["step", "name", "value"]).to_parquet(run_dir / "train_metrics.parquet",
                                                                               index=False)
    if snapshots:
        pd.DataFrame(list(snapshots)).to_parquet(run_dir / "snapshots.parquet", index=False)
    (run_dir / "timing.json").write_text(dumps(timing or {}))
    return run
