"""`drol bench`: ms per training update and per inference step, every case in one process.

Cases follow the paper's runtime figure: FQL and DROL with several K, paper-size networks (4 x 512),
batch 256, obs 28, act 5 (cube-like). Ratios measured in the same run are what to compare across
machines; absolute numbers only mean something on the device they name.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch

from drol.agents.base import OneStepAgent
from drol.methods import get_method

BENCH_CASES: dict[str, tuple[str, dict]] = {
    "fql": ("fql", {}),
    "drol1": ("drol", {"num_candidates": 1}),
    "drol4": ("drol", {"num_candidates": 4}),
    "drol16": ("drol", {"num_candidates": 16}),
    "drol64": ("drol", {"num_candidates": 64}),
}


@dataclass
class BenchShape:
    batch_size: int = 256
    obs_dim: int = 28
    action_dim: int = 5


def synthetic_batch(shape: BenchShape, device: torch.device, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    b, o, a = shape.batch_size, shape.obs_dim, shape.action_dim
    batch = {"observations": torch.randn(b, o, generator=g), "next_observations": torch.randn(b, o, generator=g),
             "actions": torch.rand(b, a, generator=g) * 2 - 1, "rewards": torch.randn(b, generator=g),
             "masks": torch.ones(b)}
    return {k: v.to(device) for k, v in batch.items()}


def make_case(name: str, shape: BenchShape, device: torch.device) -> OneStepAgent:
    method, overrides = BENCH_CASES[name]
    entry = get_method(method)
    torch.manual_seed(0)
    return entry.agent_class()(shape.obs_dim, shape.action_dim, entry.config_class()(**overrides)).to(device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_calls(fn, repeats: int, warmup: int, device: torch.device) -> float:
    """Median ms of `repeats` calls after `warmup` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def update_fn(agent: OneStepAgent, batch: dict[str, torch.Tensor], seed: int = 0):
    generator = torch.Generator(device=agent.device).manual_seed(seed)
    return lambda: agent.update(batch, agent.sample_draws(batch["actions"].shape[0], generator))


def inference_fn(agent: OneStepAgent, batch_size: int, shape: BenchShape, seed: int = 0):
    generator = torch.Generator(device=agent.device).manual_seed(seed)
    obs = torch.randn(batch_size, shape.obs_dim, generator=generator, device=agent.device)
    return lambda: agent.sample_actions(obs, generator)


def run_bench(cases: list[str] | None = None, repeats: int = 30, warmup: int = 5,
              device: str | torch.device | None = None, shape: BenchShape | None = None) -> dict:
    """ms per update (median) for every case and ms per inference step at batch 1 and 50, plus ratios."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    shape = shape or BenchShape()
    batch = synthetic_batch(shape, device)
    rows = []
    for name in cases or list(BENCH_CASES):
        agent = make_case(name, shape, device)
        rows.append({
            "case": name,
            "update_ms": time_calls(update_fn(agent, batch), repeats, warmup, device),
            "inference_ms_b1": time_calls(inference_fn(agent, 1, shape), repeats * 3, warmup, device),
            "inference_ms_b50": time_calls(inference_fn(agent, 50, shape), repeats * 3, warmup, device),
        })
    by_case = {r["case"]: r["update_ms"] for r in rows}
    ratios = {}
    if "drol16" in by_case and "fql" in by_case:
        ratios["drol16_over_fql"] = by_case["drol16"] / by_case["fql"]
    if "drol64" in by_case and "drol16" in by_case:
        ratios["drol64_over_drol16"] = by_case["drol64"] / by_case["drol16"]
    return {"device": device_name(device), "threads": torch.get_num_threads(), "torch": torch.__version__,
            "shape": vars(shape), "repeats": repeats, "cases": rows, "ratios": ratios}


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform
    threads = torch.get_num_threads()
    return f"cpu ({platform.processor() or platform.machine()}, {threads} thread{'s' if threads > 1 else ''})"
