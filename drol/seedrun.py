"""One seed's run inside a block: its directory, RNG streams, records and the files it writes.

A run directory holds
  run.json               resolved spec, run id, block, versions, device, dataset fingerprint and route, status
  evals.parquet          one row per evaluation episode (step, episode, success, return, score, length)
  train_metrics.parquet  long format (step, name, value)
  snapshots.parquet      candidate sets at fixed states at each evaluation (routing figure)
  timing.json            ms per update, ms per inference step, evaluation env-steps/s, wall time
  checkpoint.pt          this seed's weights, optimizer state, RNG states and records (a one-seed agent's)
  checkpoints/step-N.pt  every checkpoint, with `--checkpoints all` (hard links: no copy is written)
  live/                  evaluations and training metrics as they happen, while the run trains (drol.live)
Every file is written to a temporary name and renamed; the result files (parquet, timing.json) are
written only when the run ends (finished or diverged). run.json is rewritten at every log step and
evaluation: `step` is the step reached, `checkpoint_step` the one a kill would resume from, `progress` the
last score, updates/s and ETA (`drol status` reads them).
"""

from __future__ import annotations

import datetime
import functools
import os
import platform
import subprocess
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from drol.bench import device_name
from drol.config import RunSpec
from drol.data import TaskData
from drol.io import atomic_write, write_json, write_parquet
from drol.live import EVAL_COLUMNS, append_live, remove_live, reset_live
from drol.methods import get_method
from drol.tasks import get_task

ENDED = ("finished", "diverged")
SNAPSHOT_SAMPLES = 16  # a method without K: its snapshot holds this many samples of its policy


@functools.cache
def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in ("drol", "torch", "numpy", "pandas", "ogbench", "gymnasium", "mujoco", "h5py"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


@functools.cache
def git_provenance() -> dict:
    """The commit of the drol source this process runs and whether its tree had uncommitted changes (tracked
    files); nulls for an installed copy outside a git checkout."""
    source = Path(__file__).resolve().parent

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(source), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    changes = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": None if changes is None else bool(changes)}


def derived_seed(*parts: int) -> int:
    """A 63-bit seed from integers, so evaluation RNGs never share a stream with training's."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1, np.uint64)[0] >> 1)


class SeedRun:
    """Seed `spec.seed` of a block: everything of a run that is not the (shared, batched) agent."""

    def __init__(self, spec: RunSpec, out_dir: Path, run_id: str, block: list[int], device: torch.device):
        self.spec, self.out_dir, self.run_id, self.block, self.device = spec, Path(out_dir), run_id, block, device
        seed = spec.seed
        self.generator = torch.Generator(device=device).manual_seed(seed)  # batches and draws
        self.val_generator = torch.Generator(device=device).manual_seed(derived_seed(seed, 1))
        self.step = 0
        self.status = "running"
        self.agent_state: dict | None = None  # {"agent", "optimizer"} of a one-seed agent, from a checkpoint
        self.metrics: list[tuple[int, str, float]] = []
        self.evals: list[dict] = []
        self.snapshots: list[dict] = []
        self.timing = {"update_seconds": 0.0, "updates_timed": 0, "eval_seconds": 0.0, "eval_env_steps": 0,
                       "wall_seconds": 0.0}
        self.extra: dict = {}  # run.json fields of the ending (diverged_at_step)
        self.checkpoint_step = 0  # the step a kill would resume from
        self.progress: dict = {}  # run.json's live view: updates/s, ETA, last score (drol status)
        self.mirror = None  # a drol.loggers mirror (TensorBoard, W&B) when `--logger` asks for one

    @property
    def run_json_path(self) -> Path:
        return self.out_dir / "run.json"

    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / "checkpoint.pt"

    def snapshot_latents(self, agent, states: int) -> torch.Tensor:
        """This seed's fixed latents for the routing snapshots: (states, samples, latent_dim)."""
        method = get_method(self.spec.method)
        samples = getattr(self.spec.agent, method.k_field) if method.has_k else SNAPSHOT_SAMPLES
        gen = torch.Generator(device=self.device).manual_seed(derived_seed(self.spec.seed, 2))
        return agent.sample_latents((states, samples), [gen])[0]

    # Checkpoints
    def checkpoint_state(self, agent_state: dict) -> dict:
        return {"run_id": self.run_id, "step": self.step, **agent_state, "generator": self.generator.get_state(),
                "val_generator": self.val_generator.get_state(), "metrics": self.metrics, "evals": self.evals,
                "snapshots": self.snapshots, "timing": self.timing}

    def restore(self, state: dict) -> None:
        self.step = self.checkpoint_step = state["step"]
        self.agent_state = {"agent": state["agent"], "optimizer": state["optimizer"]}
        self.generator.set_state(state["generator"])
        self.val_generator.set_state(state["val_generator"])
        self.metrics, self.evals, self.snapshots = state["metrics"], state["evals"], state["snapshots"]
        self.timing = state["timing"]

    def save_checkpoint(self, agent_state: dict, data: TaskData, keep_all: bool = False) -> None:
        atomic_write(self.checkpoint_path, lambda tmp: torch.save(self.checkpoint_state(agent_state), tmp))
        self.checkpoint_step = self.step
        if keep_all:  # a hard link keeps this step's file when checkpoint.pt is next replaced
            kept = self.out_dir / "checkpoints" / f"step-{self.step}.pt"
            kept.parent.mkdir(exist_ok=True)
            kept.unlink(missing_ok=True)
            os.link(self.checkpoint_path, kept)
        # run.json follows the checkpoint, so a killed run reports the step it will resume from.
        write_json(self.run_json_path, self.run_json(data))

    def start_live(self) -> None:
        """Live files from this run's records so far (none for a fresh run, the checkpoint's when resumed)."""
        reset_live(self.out_dir, {"metrics": self.metrics,
                                  "evals": [[e[c] for c in EVAL_COLUMNS] for e in self.evals]})

    # Records
    def record(self, step: int, values: dict[str, float]) -> None:
        rows = [(step, name, value) for name, value in values.items()]
        self.metrics.extend(rows)
        append_live(self.out_dir, "metrics", rows)
        if self.mirror is not None:
            self.mirror.log(step, values)

    def record_evaluation(self, step: int, frame: pd.DataFrame, candidates: np.ndarray) -> None:
        rows = [{"step": step, **row} for row in frame.to_dict("records")]
        self.evals.extend(rows)
        append_live(self.out_dir, "evals", [[row[c] for c in EVAL_COLUMNS] for row in rows])
        self.progress.update(last_eval_step=step, last_score=float(frame["score"].mean()))
        if self.mirror is not None:
            self.mirror.log(step, {f"eval/{c}": float(frame[c].mean()) for c in ("score", "success", "return")})
        for state_id, cands in enumerate(candidates):
            for k, action in enumerate(cands):
                self.snapshots.append({"step": step, "state_id": state_id, "candidate": k,
                                       **{f"a{d}": float(v) for d, v in enumerate(action)}})

    # Files
    def run_json(self, data: TaskData) -> dict:
        spec, method, task = self.spec, get_method(self.spec.method), get_task(self.spec.task)
        k = getattr(spec.agent, method.k_field) if method.has_k else None
        return {"run_id": self.run_id, "method": spec.method, "label": spec.label, "K": k,
                "labels": list(spec.labels), "task": spec.task, "suite": task.suite, "family": task.family,
                "seed": spec.seed, "block": self.block,
                "config": {"agent": asdict(spec.agent), "train": asdict(spec.train)}, "spec": spec.to_dict(),
                "status": self.status, "step": self.step, "checkpoint_step": self.checkpoint_step,
                "steps": spec.train.steps, "progress": self.progress, "git": git_provenance(),
                "device": device_name(self.device), "versions": package_versions(),
                "dataset": {"fingerprint": data.train.fingerprint, "route": data.route, "size": len(data.train),
                            "val_size": len(data.val) if data.val is not None else 0, "info": data.train.info},
                "obs_dim": data.train.obs_dim, "action_dim": data.train.action_dim,
                "snapshot_states": snapshot_states(data, spec.train.snapshot_states).cpu().tolist(),
                "slurm_job_id": os.environ.get("SLURM_JOB_ID"), **self.extra}

    def write_outputs(self, data: TaskData) -> None:
        out = self.out_dir
        write_parquet(out / "train_metrics.parquet", pd.DataFrame(self.metrics, columns=["step", "name", "value"]))
        evals = pd.DataFrame(self.evals, columns=list(EVAL_COLUMNS))
        write_parquet(out / "evals.parquet", evals)
        write_parquet(out / "snapshots.parquet", pd.DataFrame(self.snapshots))
        t = self.timing
        write_json(out / "timing.json", {
            "device": device_name(self.device),
            "ms_per_update": 1e3 * t["update_seconds"] / max(t["updates_timed"], 1),
            "block_seeds": len(self.block),  # seeds sharing each timed update (ms_per_update is the block's)
            "ms_per_inference_step": t.get("ms_per_inference_step"),
            "eval_env_steps_per_s": t["eval_env_steps"] / t["eval_seconds"] if t["eval_seconds"] else None,
            "wall_time_s": t["wall_seconds"], "updates_timed": t["updates_timed"]})
        self.progress.pop("eta_s", None)
        write_json(self.run_json_path, self.run_json(data))
        remove_live(out)  # the result files hold every record now

    def report_progress(self, updates_per_s: float, data: TaskData) -> None:
        """run.json with where the run stands now (a log step or an evaluation between checkpoints)."""
        self.progress.update(updates_per_s=round(updates_per_s, 3),
                             eta_s=round((self.spec.train.steps - self.step) / max(updates_per_s, 1e-9)),
                             updated_at=datetime.datetime.now().astimezone().isoformat(timespec="seconds"))
        write_json(self.run_json_path, self.run_json(data))


def snapshot_states(data: TaskData, count: int) -> torch.Tensor:
    """The dataset states whose candidate sets every evaluation keeps: evenly spaced over the data."""
    n = len(data.train)
    idx = torch.linspace(0, n - 1, count).long().to(data.train.tensors["observations"].device)
    return data.train.tensors["observations"][idx]
