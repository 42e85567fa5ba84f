"""One training update of a seed block: sample, draw, update; eager, or captured as a CUDA graph on a GPU.

`TrainStep` samples each seed's batch (indices from that seed's generator, one gather from the dataset on
the device it lives on) and each seed's draws, then updates the agent. Nothing in it reads a value back
to the host, so a GPU runs ahead of Python; metrics are read only at log steps (drol.train).

A 4 x 512 update at batch 256 is a few hundred small kernels, so on a GPU it is bound by launches, not by
arithmetic. Modes:
- "eager": every kernel launched from Python (the only mode on a CPU).
- "graph": after WARMUP_STEPS eager updates (real training steps, on a side stream, which also creates
  Adam's state) the whole update, sampling included, is captured once as a CUDA graph and replayed. The
  seeds' generators are registered with the graph, so each replay draws new numbers from each seed's
  stream. Updates that record metrics run eagerly on the same tensors.
- "compile": `torch.compile(mode="reduce-overhead")` of the same function (CUDA graphs through Inductor).
If capture or compilation fails, the step says why on stderr once and stays eager.
"""

from __future__ import annotations

import sys

import torch

from drol.agents.base import OneStepAgent

MODES = ("eager", "graph", "compile")
WARMUP_STEPS = 3


def default_mode(device: torch.device) -> str:
    return "graph" if device.type == "cuda" else "eager"


class TrainStep:
    def __init__(self, agent: OneStepAgent, data, generators: list[torch.Generator], batch_size: int,
                 mode: str = "eager"):
        if mode not in MODES:
            raise ValueError(f"update mode {mode!r}: choose {', '.join(MODES)}")
        if mode != "eager" and agent.device.type != "cuda":
            raise ValueError(f"update mode {mode!r} needs a CUDA device; use eager on {agent.device}")
        self.agent, self.data, self.generators, self.batch_size = agent, data, generators, batch_size
        self.mode = mode
        self.eager_steps = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.captured_info: dict[str, torch.Tensor] | None = None
        self.compiled = None

    def eager(self, with_metrics: bool = False) -> dict[str, torch.Tensor]:
        batch = self.data.sample(self.batch_size, self.generators)
        draws = self.agent.sample_draws(self.batch_size, self.generators)
        return self.agent.update(batch, draws, with_metrics=with_metrics)

    def __call__(self, with_metrics: bool = False) -> dict[str, torch.Tensor]:
        """One update; its info (per-seed loss tensors, not yet read back)."""
        if self.mode == "eager" or with_metrics:
            return self.eager(with_metrics)
        if self.eager_steps < WARMUP_STEPS:
            self.eager_steps += 1
            side = torch.cuda.Stream(self.agent.device)
            side.wait_stream(torch.cuda.current_stream(self.agent.device))
            with torch.cuda.stream(side):
                info = self.eager()
            torch.cuda.current_stream(self.agent.device).wait_stream(side)
            return info
        if self.mode == "graph":
            return self._replay()
        return self._compiled()

    def _replay(self) -> dict[str, torch.Tensor]:
        if self.graph is None:
            try:
                self.graph, self.captured_info = self._capture()
            except Exception as err:  # noqa: BLE001 - any capture failure leaves a working eager step
                self._fall_back(f"CUDA graph capture failed ({type(err).__name__}: {err})")
                return self.eager()
        self.graph.replay()
        return self.captured_info

    def _capture(self) -> tuple[torch.cuda.CUDAGraph, dict[str, torch.Tensor]]:
        graph = torch.cuda.CUDAGraph()
        for generator in self.generators:  # replays advance each seed's stream (torch >= 2.5)
            graph.register_generator_state(generator)
        with torch.cuda.graph(graph):
            info = self.eager()
        return graph, info

    def _compiled(self) -> dict[str, torch.Tensor]:
        if self.compiled is None:
            self.compiled = torch.compile(self.eager, mode="reduce-overhead")
        try:
            return self.compiled()
        except Exception as err:  # noqa: BLE001
            self._fall_back(f"torch.compile failed ({type(err).__name__}: {err})")
            return self.eager()

    def _fall_back(self, why: str) -> None:
        print(f"{why}; updates run eagerly", file=sys.stderr)
        self.mode = "eager"
