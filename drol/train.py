"""The shared trainer: update loop, evaluation schedule, checkpoint/resume, run artifacts.

A run directory holds
  run.json               resolved config, run id, versions, device, dataset fingerprint and route, status
  evals.parquet          one row per evaluation episode (step, episode, success, return, score, length)
  train_metrics.parquet  long format (step, name, value)
  snapshots.parquet      candidate sets at fixed states at each evaluation (routing figure)
  timing.json            ms per update, ms per inference step, evaluation env-steps/s, wall time
  checkpoint.pt          weights, optimizer, RNG states and records: `drol train` on the same directory resumes
Every file is written to a temporary name and renamed; the result files (parquet, timing.json) are
written only when the run ends (finished or diverged). A resumed CPU run ends bit-identical to an
uninterrupted one: all training randomness comes from one generator whose state is checkpointed, and
evaluation draws from its own seeded generators.
"""

from __future__ import annotations

import os
import platform
import random
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from drol.agents.base import OneStepAgent
from drol.bench import device_name, time_calls
from drol.config import RunSpec
from drol.data import TaskData, load_task_data
from drol.errors import RunConflict
from drol.evaluate import evaluate
from drol.io import atomic_write, write_json, write_parquet
from drol.methods import get_method
from drol.rundir import (
    RunLock,
    incomplete_results,
    load_checkpoint,
    read_run_json,
    remove_results,
    remove_stale_temporaries,
)
from drol.tasks import get_task

ENDED = ("finished", "diverged")
SNAPSHOT_SAMPLES = 16  # a method without K: its snapshot holds this many samples of its policy


def resolve_device(device: str | None) -> torch.device:
    """auto (CUDA when available), cpu, cuda or cuda:N; anything else, or CUDA this torch lacks, is one line."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        parsed = None
    if parsed is None or parsed.type not in ("cpu", "cuda"):
        raise ValueError(f"--device {device}: choose auto, cpu, cuda or cuda:N")
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            build = "a CPU build" if torch.version.cuda is None else f"CUDA {torch.version.cuda}, but no GPU is visible"
            raise ValueError(f"--device {device}: this torch ({torch.__version__}) is {build}; use --device cpu")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise ValueError(f"--device {device}: only {torch.cuda.device_count()} GPU(s) visible; "
                             f"choose cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    return parsed


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in ("drol", "torch", "numpy", "pandas", "ogbench", "gymnasium", "mujoco", "h5py"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def derived_seed(*parts: int) -> int:
    """A 63-bit seed from integers, so evaluation RNGs never share a stream with training's."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1, np.uint64)[0] >> 1)


class Trainer:
    def __init__(self, spec: RunSpec, out_dir: Path, device: str | None = None, progress: bool = True,
                 should_stop: Callable[[int], bool] | None = None):
        self.spec, self.out_dir, self.progress = spec, Path(out_dir), progress
        self.method = get_method(spec.method)
        self.eval_env = None
        self.device = resolve_device(device)
        self.task = get_task(spec.task)
        self.should_stop = should_stop or (lambda step: False)
        self.signal_received: int | None = None

    # Setup
    def _build(self, data: TaskData) -> None:
        seed = self.spec.seed
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)
        self.agent: OneStepAgent = self.method.agent_class()(data.train.obs_dim, data.train.action_dim, self.spec.agent)
        self.agent.to(self.device)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.val_generator = torch.Generator(device=self.device).manual_seed(derived_seed(seed, 1))
        n = len(data.train)
        idx = torch.linspace(0, n - 1, self.spec.train.snapshot_states).long().to(self.device)
        self.snapshot_obs = data.train.tensors["observations"][idx]
        samples = getattr(self.spec.agent, self.method.k_field) if self.method.has_k else SNAPSHOT_SAMPLES
        latent_gen = torch.Generator(device=self.device).manual_seed(derived_seed(seed, 2))
        self.snapshot_latents = self.agent.sample_latents((len(idx), samples), latent_gen)
        self.step = 0
        self.metrics: list[tuple[int, str, float]] = []
        self.evals: list[dict] = []
        self.snapshots: list[dict] = []
        self.timing = {"update_seconds": 0.0, "updates_timed": 0, "eval_seconds": 0.0, "eval_env_steps": 0,
                       "wall_seconds": 0.0}

    def _checkpoint_state(self) -> dict:
        return {"run_id": self.run_id, "step": self.step, "agent": self.agent.state_dict(),
                "optimizer": self.agent.optimizer.state_dict(), "generator": self.generator.get_state(),
                "val_generator": self.val_generator.get_state(), "metrics": self.metrics, "evals": self.evals,
                "snapshots": self.snapshots, "timing": self.timing}

    def _restore(self, state: dict) -> None:
        self.step = state["step"]
        self.agent.load_state_dict(state["agent"])
        self.agent.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.val_generator.set_state(state["val_generator"])
        self.metrics, self.evals, self.snapshots = state["metrics"], state["evals"], state["snapshots"]
        self.timing = state["timing"]

    # Records
    def _record(self, step: int, info: dict[str, torch.Tensor]) -> None:
        values = torch.stack([v.float() for v in info.values()]).tolist()
        self.metrics.extend((step, name, value) for name, value in zip(info, values))

    def _evaluate(self, data: TaskData, step: int) -> float:
        seed = self.spec.seed
        if self.eval_env is None:  # built once: making 50 MuJoCo envs takes about a minute
            self.eval_env = data.make_env(self.spec.train.eval_episodes)
        policy_gen = torch.Generator(device=self.device).manual_seed(derived_seed(seed, 3, step))
        start = time.perf_counter()
        frame = evaluate(lambda obs: self.agent.sample_actions(obs, policy_gen), self.eval_env,
                         seed=derived_seed(seed, 4, step) % 2**31, scorer=data.scorer, device=self.device)
        self.timing["eval_seconds"] += time.perf_counter() - start
        self.timing["eval_env_steps"] += int(frame["length"].sum())
        self.evals.extend({"step": step, **row} for row in frame.to_dict("records"))
        with torch.no_grad():
            obs = self.snapshot_obs.unsqueeze(1).expand(-1, self.snapshot_latents.shape[1], -1)
            candidates = self.agent.policy(obs, self.snapshot_latents).cpu().numpy()
        for state_id, cands in enumerate(candidates):
            for k, action in enumerate(cands):
                self.snapshots.append({"step": step, "state_id": state_id, "candidate": k,
                                       **{f"a{d}": float(v) for d, v in enumerate(action)}})
        return float(frame["score"].mean())

    def _run_json(self, data: TaskData, status: str, **extra) -> dict:
        k = getattr(self.spec.agent, self.method.k_field) if self.method.has_k else None
        return {"run_id": self.run_id, "method": self.spec.method, "label": self.spec.label, "K": k,
                "labels": list(self.spec.labels), "task": self.spec.task,
                "suite": self.task.suite, "family": self.task.family, "seed": self.spec.seed,
                "config": {"agent": asdict(self.spec.agent), "train": asdict(self.spec.train)},
                "spec": self.spec.to_dict(),
                "status": status, "step": self.step, "steps": self.spec.train.steps,
                "device": device_name(self.device), "versions": package_versions(),
                "dataset": {"fingerprint": data.train.fingerprint, "route": data.route, "size": len(data.train),
                            "val_size": len(data.val) if data.val is not None else 0, "info": data.train.info},
                "obs_dim": data.train.obs_dim, "action_dim": data.train.action_dim,
                "snapshot_states": self.snapshot_obs.cpu().tolist(),
                "slurm_job_id": os.environ.get("SLURM_JOB_ID"), **extra}

    def _write_outputs(self, data: TaskData, status: str, **extra) -> None:
        out = self.out_dir
        write_parquet(out / "train_metrics.parquet",
                      pd.DataFrame(self.metrics, columns=["step", "name", "value"]))
        evals = pd.DataFrame(self.evals, columns=["step", "episode", "success", "return", "score", "length"])
        write_parquet(out / "evals.parquet", evals)
        write_parquet(out / "snapshots.parquet", pd.DataFrame(self.snapshots))
        t = self.timing
        write_json(out / "timing.json", {
            "device": device_name(self.device),
            "ms_per_update": 1e3 * t["update_seconds"] / max(t["updates_timed"], 1),
            "ms_per_inference_step": t.get("ms_per_inference_step"),
            "eval_env_steps_per_s": t["eval_env_steps"] / t["eval_seconds"] if t["eval_seconds"] else None,
            "wall_time_s": t["wall_seconds"], "updates_timed": t["updates_timed"]})
        write_json(out / "run.json", self._run_json(data, status, **extra))

    def _save_checkpoint(self, data: TaskData) -> None:
        atomic_write(self.out_dir / "checkpoint.pt", lambda tmp: torch.save(self._checkpoint_state(), tmp))
        # run.json follows the checkpoint, so a killed run reports the step it will resume from.
        write_json(self.out_dir / "run.json", self._run_json(data, "running"))

    # Loop
    def run(self) -> str:
        """Train (or resume) to the end; returns the final status: finished, diverged or interrupted."""
        _check_out_dir(self.out_dir)
        data = load_task_data(self.task, self.device, self.spec.data)  # before any file is written
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.run_id = self.spec.run_id(data.train.fingerprint)
        with RunLock(self.out_dir):
            remove_stale_temporaries(self.out_dir)
            return self._run_locked(data)

    def _run_locked(self, data: TaskData) -> str:
        run_json = self.out_dir / "run.json"
        previous = read_run_json(run_json)
        if previous is not None and previous.get("run_id") != self.run_id:
            raise RunConflict(f"{self.out_dir} holds run {previous.get('run_id')} of another configuration "
                              f"(this one is {self.run_id}); choose another --out or delete that directory")
        self._build(data)
        checkpoint = self.out_dir / "checkpoint.pt"
        if previous is not None and previous["status"] in ENDED:
            missing = incomplete_results(self.out_dir, previous)
            if missing is None:
                if previous.get("labels") != list(self.spec.labels):  # a study now includes it: relabel only
                    write_json(run_json, {**previous, "labels": list(self.spec.labels), "spec": self.spec.to_dict()})
                return previous["status"]
            if previous.get("labels") != list(self.spec.labels) and checkpoint.exists():
                # Snakemake reran the job because only its labels changed (it deletes the outputs first):
                # the final checkpoint holds every record, so the results are written again, not retrained.
                self._restore(load_checkpoint(checkpoint, self.device))
                self._write_outputs(data, previous["status"],
                                    **({"diverged_at_step": self.step} if previous["status"] == "diverged" else {}))
                return previous["status"]
            # A forced rerun (or results removed by hand): train again from step 0; the old final
            # checkpoint is replaced by the new run's.
            print(f"{self.out_dir}: run.json says {previous['status']} but {missing}: training again from step 0",
                  file=sys.stderr)
            checkpoint.unlink(missing_ok=True)
            remove_results(self.out_dir)
        if checkpoint.exists():  # also when a workflow removed the outputs of an interrupted job
            state = load_checkpoint(checkpoint, self.device)
            if state["run_id"] != self.run_id:
                raise RunConflict(f"{checkpoint} belongs to run {state['run_id']}, not {self.run_id}; "
                                  "delete it or choose another --out")
            self._restore(state)
            print(f"{self.out_dir}: resumed from step {self.step} (checkpoint.pt)", file=sys.stderr)
        write_json(run_json, self._run_json(data, "running"))
        previous_handlers = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            return self._loop(data)
        finally:
            for s, handler in previous_handlers.items():
                signal.signal(s, handler)
            if self.eval_env is not None:
                self.eval_env.close()

    def _on_signal(self, signum, frame) -> None:
        self.signal_received = signum

    def _loop(self, data: TaskData) -> str:
        cfg = self.spec.train
        wall_start = time.perf_counter()
        wall_before = self.timing["wall_seconds"]
        bar = tqdm(total=cfg.steps, initial=self.step, disable=not self.progress, mininterval=1.0,
                   desc=f"{self.spec.method} {self.spec.task} seed {self.spec.seed}", unit="upd")
        segment_start, segment_updates = time.perf_counter(), 0
        status = "finished"
        while self.step < cfg.steps:
            self.step += 1
            step = self.step
            log = step == 1 or step % cfg.log_interval == 0 or step == cfg.steps
            info = self.agent.update(data.train.sample(cfg.batch_size, self.generator),
                                     self.agent.sample_draws(cfg.batch_size, self.generator), with_metrics=log)
            segment_updates += 1
            bar.update(1)
            validate = data.val is not None and (step == 1 or step % cfg.val_interval == 0)
            evaluate_now = step == 1 or step % cfg.eval_interval == 0 or step == cfg.steps
            checkpoint_now = step % cfg.checkpoint_interval == 0
            stop = self.signal_received is not None or self.should_stop(step)
            if not (log or validate or evaluate_now or checkpoint_now or stop):
                continue
            # Events: close the timed segment of pure updates first.
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            self.timing["update_seconds"] += time.perf_counter() - segment_start
            self.timing["updates_timed"] += segment_updates
            if log:
                self._record(step, info)
                if not all(np.isfinite(value) for _, _, value in self.metrics[-len(info):]):
                    status = "diverged"
                    break
            if validate:
                val_batch = data.val.sample(cfg.batch_size, self.val_generator)
                val_draws = self.agent.sample_draws(cfg.batch_size, self.val_generator)
                self._record(step, self.agent.validation_info(val_batch, val_draws))
            if evaluate_now:
                score = self._evaluate(data, step)
                bar.set_postfix(score=f"{score:.1f}")
            if checkpoint_now or stop:
                self.timing["wall_seconds"] = wall_before + time.perf_counter() - wall_start
                self._save_checkpoint(data)
            if stop:
                status = "interrupted"
                break
            segment_start, segment_updates = time.perf_counter(), 0
        bar.close()
        if status == "finished":
            obs = data.train.tensors["observations"][:1]
            gen = torch.Generator(device=self.device).manual_seed(0)
            self.timing["ms_per_inference_step"] = time_calls(lambda: self.agent.sample_actions(obs, gen),
                                                              repeats=100, warmup=10, device=self.device)
        self.timing["wall_seconds"] = wall_before + time.perf_counter() - wall_start
        if status == "interrupted":
            # Only run.json: the result files appear when the run is done, so a workflow that sees them
            # never mistakes an interrupted run for a finished one.
            write_json(self.out_dir / "run.json", self._run_json(data, status))
            return status
        atomic_write(self.out_dir / "checkpoint.pt", lambda tmp: torch.save(self._checkpoint_state(), tmp))
        self._write_outputs(data, status, **({"diverged_at_step": self.step} if status == "diverged" else {}))
        return status


def _check_out_dir(out_dir: Path) -> None:
    """The run directory can be created and written, before any work: one line naming it otherwise."""
    existing = next((p for p in (out_dir, *out_dir.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise RunConflict(f"--out {out_dir}: {existing} is a file, not a directory; choose another --out")
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise RunConflict(f"--out {out_dir}: {existing} is not writable; choose a directory you can write")


def train(spec: RunSpec, out_dir: Path | str, device: str | None = None, progress: bool = True,
          should_stop: Callable[[int], bool] | None = None) -> str:
    return Trainer(spec, Path(out_dir), device, progress, should_stop).run()
