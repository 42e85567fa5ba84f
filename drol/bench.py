"""`drol bench`: ms per training update and per inference step, every case in one process.

Cases follow the paper's runtime figure: FQL and DROL with several K at paper size (4 x 512 networks,
batch 256, obs 28, act 5: cube-like), plus seed blocks (`_s8`: 8 seeds of one configuration as one
batched update, drol.train) at paper size and at the toy task's size (3 x 128, obs 2, act 2). An update
is what training runs: sample each seed's batch from an on-device dataset, draw, update (drol.step). On
CUDA each case is timed eagerly, as a CUDA graph and compiled. Ratios measured in the same run are what
to compare across machines; absolute numbers only mean something on the device they name.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from drol.methods import get_method

if TYPE_CHECKING:  # torch is imported where it is used: `drol --help` and the case list do not need it
    import torch

    from drol.agents.base import OneStepAgent

TOY_NETS = {"actor_hidden_dims": (128, 128, 128), "value_hidden_dims": (128, 128, 128)}


@dataclass(frozen=True)
class BenchShape:
    batch_size: int = 256
    obs_dim: int = 28
    action_dim: int = 5


SHAPES = {"paper": BenchShape(), "toy": BenchShape(256, 2, 2)}


@dataclass(frozen=True)
class BenchCase:
    method: str  # registered method name
    overrides: dict = field(default_factory=dict)  # agent-config fields
    seeds: int = 1  # seeds in the block, updated as one batched computation
    size: str = "paper"  # key of SHAPES (and the toy's networks for "toy")


BENCH_CASES: dict[str, BenchCase] = {
    "fql": BenchCase("fql"),
    "drol1": BenchCase("drol", {"num_candidates": 1}),
    "drol4": BenchCase("drol", {"num_candidates": 4}),
    "drol16": BenchCase("drol", {"num_candidates": 16}),
    "drol64": BenchCase("drol", {"num_candidates": 64}),
    "drol16_s8": BenchCase("drol", {"num_candidates": 16}, seeds=8),
    "drol16_toy": BenchCase("drol", {"num_candidates": 16, **TOY_NETS}, size="toy"),
    "drol16_toy_s8": BenchCase("drol", {"num_candidates": 16, **TOY_NETS}, seeds=8, size="toy"),
}
# ratio name -> (numerator case, denominator case, divide the numerator by its seeds)
RATIOS = {
    "drol16_over_fql": ("drol16", "fql", False),
    "drol64_over_drol16": ("drol64", "drol16", False),
    "drol16_s8_per_seed_over_drol16": ("drol16_s8", "drol16", True),
    "drol16_toy_s8_per_seed_over_drol16_toy": ("drol16_toy_s8", "drol16_toy", True),
}
DATASET_SIZE = 100_000  # synthetic transitions the bench samples from, on the device


def synthetic_dataset(shape: BenchShape, device: torch.device, size: int = DATASET_SIZE, seed: int = 0):
    import torch

    from drol.data import Dataset

    g = torch.Generator().manual_seed(seed)
    n, o, a = size, shape.obs_dim, shape.action_dim
    tensors = {"observations": torch.randn(n, o, generator=g), "next_observations": torch.randn(n, o, generator=g),
               "actions": torch.rand(n, a, generator=g) * 2 - 1, "rewards": torch.randn(n, generator=g),
               "masks": torch.ones(n)}
    return Dataset({k: v.to(device) for k, v in tensors.items()})


def make_case(name: str, device: torch.device) -> OneStepAgent:
    case = BENCH_CASES[name]
    entry, shape = get_method(case.method), SHAPES[case.size]
    return entry.agent_class().for_seeds(shape.obs_dim, shape.action_dim, entry.config_class()(**case.overrides),
                                         list(range(case.seeds)), device)


def case_generators(name: str, device: torch.device) -> list[torch.Generator]:
    import torch

    return [torch.Generator(device=device).manual_seed(s) for s in range(BENCH_CASES[name].seeds)]


def _sync(device: torch.device) -> None:
    import torch

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


def update_fn(name: str, device: torch.device, mode: str = "eager"):
    """One training update of the case (sampling included), as training runs it."""
    from drol.step import TrainStep

    shape = SHAPES[BENCH_CASES[name].size]
    agent = make_case(name, device)
    return TrainStep(agent, synthetic_dataset(shape, device), case_generators(name, device), shape.batch_size, mode)


def inference_fn(name: str, batch_size: int, device: torch.device, seed: int = 0):
    """Actions for `batch_size` states of each seed of the case: one forward."""
    import torch

    agent = make_case(name, device)
    generators = case_generators(name, device)
    obs = torch.randn(agent.seeds, batch_size, agent.obs_dim, device=device)
    return lambda: agent.sample_actions(obs, generators)


def run_bench(cases: list[str] | None = None, repeats: int = 30, warmup: int = 5,
              device: str | torch.device | None = None, modes: list[str] | None = None) -> dict:
    """ms per update (median) for every case and mode, ms per inference step at batch 1 and 50, and ratios
    (within the eager rows, and each mode's ratios on CUDA)."""
    import torch

    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    modes = modes or (["eager", "graph", "compile"] if device.type == "cuda" else ["eager"])
    rows = []
    for name in cases or list(BENCH_CASES):
        for mode in modes:
            step = update_fn(name, device, mode)
            row = {"case": name, "mode": mode, "seeds": BENCH_CASES[name].seeds,
                   "update_ms": time_calls(step, repeats, max(warmup, 5), device)}
            row["mode_used"] = step.mode  # "eager" when capture or compilation fell back
            if mode == "eager":
                row["inference_ms_b1"] = time_calls(inference_fn(name, 1, device), repeats * 3, warmup, device)
                row["inference_ms_b50"] = time_calls(inference_fn(name, 50, device), repeats * 3, warmup, device)
            rows.append(row)
    ratios = {}
    for mode in modes:
        by_case = {r["case"]: r["update_ms"] for r in rows if r["mode"] == mode}
        for ratio, (num, den, per_seed) in RATIOS.items():
            if num in by_case and den in by_case:
                value = by_case[num] / (BENCH_CASES[num].seeds if per_seed else 1) / by_case[den]
                ratios[ratio if mode == "eager" else f"{ratio}_{mode}"] = value
    return {"device": device_name(device), "threads": torch.get_num_threads(), "torch": torch.__version__,
            "shapes": {k: vars(v) for k, v in SHAPES.items()}, "repeats": repeats, "cases": rows, "ratios": ratios}


def device_name(device: torch.device) -> str:
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform

    threads = torch.get_num_threads()
    return f"cpu ({platform.processor() or platform.machine()}, {threads} thread{'s' if threads > 1 else ''})"
