"""pytest-benchmark cases of `drol bench` (run with `pytest tests/bench --benchmark-enable`).

Compare the cases of one run with each other (e.g. drol16 against fql): absolute times depend on the machine.
"""

import pytest
import torch

from drol.bench import (
    BENCH_CASES,
    BenchShape,
    inference_fn,
    make_case,
    synthetic_batch,
    update_fn,
)

SHAPE = BenchShape()
CPU = torch.device("cpu")


@pytest.mark.parametrize("case", list(BENCH_CASES))
def test_update(benchmark, case):
    agent = make_case(case, SHAPE, CPU)
    benchmark.group = "update"
    info = benchmark.pedantic(update_fn(agent, synthetic_batch(SHAPE, CPU)), rounds=20, warmup_rounds=3)
    assert torch.isfinite(info["total_loss"])


@pytest.mark.parametrize("batch_size", [1, 50])
def test_inference(benchmark, batch_size):
    agent = make_case("drol16", SHAPE, CPU)
    benchmark.group = f"inference batch {batch_size}"
    actions = benchmark(inference_fn(agent, batch_size, SHAPE))
    assert actions.shape == (batch_size, SHAPE.action_dim)
