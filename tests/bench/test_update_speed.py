"""pytest-benchmark cases of `drol bench` (run with `pytest tests/bench --benchmark-enable`).

Compare the cases of one run with each other (e.g. drol16 against fql, drol16_s8 per seed against drol16):
absolute times depend on the machine.
"""

import pytest
import torch

from drol.bench import BENCH_CASES, inference_fn, update_fn

CPU = torch.device("cpu")


@pytest.mark.parametrize("case", list(BENCH_CASES))
def test_update(benchmark, case):
    step = update_fn(case, CPU)
    benchmark.group = "update"
    info = benchmark.pedantic(step, rounds=20, warmup_rounds=3)
    assert info["total_loss"].shape == (BENCH_CASES[case].seeds,) and torch.isfinite(info["total_loss"]).all()


@pytest.mark.parametrize("batch_size", [1, 50])
def test_inference(benchmark, batch_size):
    benchmark.group = f"inference batch {batch_size}"
    actions = benchmark(inference_fn("drol16", batch_size, CPU))
    assert actions.shape == (1, batch_size, 5)
