"""The trainer: a block of seeds of one configuration as one batched computation, with evaluation,
checkpoint/resume and one run directory per seed (drol.seedrun).

Seed s of a block is seed s trained alone: its initial weights, batches, draws, q-loss normalisation,
evaluation episodes and policy draws come from its own seed, and on a CPU the block computes each seed's
slice with the same kernels as a one-seed run, so its numbers are bit for bit those of `drol train --seed s`
(tests/test_seed_blocks.py). A resumed CPU run ends bit-identical to an uninterrupted one: the checkpoint
holds each seed's weights, optimizer and generator states. A seed whose metrics turn non-finite ends as
`diverged` and leaves the block; the others go on.

When a block ends, `seeds-<a>_<b>....json` (the block manifest, the workflow's output for the job) is
written beside its seed directories.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack, closing
from dataclasses import replace
from datetime import timedelta
from itertools import groupby
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from drol.agents.base import OneStepAgent
from drol.bench import time_calls
from drol.config import RunSpec
from drol.data import TaskData, load_task_data
from drol.devices import resolve_device
from drol.errors import RunConflict
from drol.evaluate import evaluate
from drol.io import write_json
from drol.methods import get_method
from drol.rundir import (
    CHECKPOINT_RETENTION,
    RunLock,
    block_manifest,
    incomplete_results,
    load_checkpoint,
    read_run_json,
    remove_results,
    remove_stale_temporaries,
)
from drol.seedrun import ENDED, SeedRun, derived_seed, snapshot_states
from drol.step import TrainStep, default_mode
from drol.tasks import get_task


class Trainer:
    def __init__(self, specs: list[RunSpec], out_dirs: list[Path], device: str | None = None, progress: bool = True,
                 should_stop: Callable[[int], bool] | None = None, mode: str | None = None,
                 checkpoints: str = "final", logger: str | None = None):
        if not specs or len(specs) != len(out_dirs):
            raise ValueError("give one run directory per seed of the block")
        if checkpoints not in CHECKPOINT_RETENTION:
            raise ValueError(f"--checkpoints {checkpoints}: choose from {', '.join(CHECKPOINT_RETENTION)}")
        self.checkpoints, self.logger = checkpoints, logger
        base = replace(specs[0], seed=0, labels=())
        if any(replace(spec, seed=0, labels=()) != base for spec in specs):
            raise ValueError("a block trains seeds of one configuration: its specs may differ in seed and labels only")
        seeds = [spec.seed for spec in specs]
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds {seeds}: each seed once per block")
        order = sorted(range(len(specs)), key=lambda i: specs[i].seed)
        self.specs, self.out_dirs = [specs[i] for i in order], [Path(out_dirs[i]) for i in order]
        self.seeds, self.given_order, self.progress = sorted(seeds), seeds, progress
        self.method = get_method(specs[0].method)
        self.task = get_task(specs[0].task)
        self.device = resolve_device(device)
        self.mode = mode or default_mode(self.device)
        self.should_stop = should_stop or (lambda step: False)
        self.signal_received: int | None = None
        self.eval_env = None

    # Setup
    def run(self) -> list[str]:
        """Train (or resume) every seed to its end; returns each seed's status (finished, diverged or interrupted)
        in the order the specs were given."""
        for out_dir in self.out_dirs:
            _check_out_dir(out_dir)
        data = load_task_data(self.task, self.device, self.specs[0].data)  # before any file is written
        manifest = block_manifest(self.out_dirs, self.seeds)
        rerun_of_complete_job = manifest is not None and not manifest.exists()
        for out_dir in self.out_dirs:
            out_dir.mkdir(parents=True, exist_ok=True)
        with ExitStack() as locks:
            for out_dir in self.out_dirs:
                locks.enter_context(RunLock(out_dir))
                remove_stale_temporaries(out_dir)
            runs = [SeedRun(spec, out_dir, spec.run_id(data.train.fingerprint), self.seeds, self.device)
                    for spec, out_dir in zip(self.specs, self.out_dirs)]
            todo = self._prepare(runs, data, rerun_of_complete_job)
            if self.logger:
                from drol.loggers import open_mirror

                for r in todo:
                    r.mirror = locks.enter_context(closing(open_mirror(self.logger, r.out_dir, r.spec, r.run_id,
                                                                       r.checkpoint_step)))
            previous_handlers = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
            try:
                # Seeds resumed at different steps (a block regrouped after a kill) train in groups by step.
                for _, group in groupby(sorted(todo, key=lambda r: r.step), key=lambda r: r.step):
                    self._train_group(list(group), data)
                    if self.signal_received is not None or any(r.status == "interrupted" for r in todo):
                        break
            finally:
                for s, handler in previous_handlers.items():
                    signal.signal(s, handler)
                if self.eval_env is not None:
                    self.eval_env.close()
            if manifest is not None and all(r.status in ENDED for r in runs):
                write_json(manifest, {"seeds": self.seeds, "runs": {str(r.spec.seed): {
                    "run_dir": str(r.out_dir), "run_id": r.run_id, "status": r.status} for r in runs}})
        status = {r.spec.seed: r.status for r in runs}
        return [status[seed] for seed in self.given_order]

    def _prepare(self, runs: list[SeedRun], data: TaskData, rerun_of_complete_job: bool) -> list[SeedRun]:
        """Decide per seed: done (results complete), results rewritten from the final checkpoint, trained
        again from 0, or resumed from its checkpoint. Returns the seeds to train."""
        previous = {}
        for run in runs:
            prev = read_run_json(run.run_json_path)
            if prev is not None and prev.get("run_id") != run.run_id:
                raise RunConflict(f"{run.out_dir} holds run {prev.get('run_id')} of another configuration "
                                  f"(this one is {run.run_id}); choose another --out or delete that directory")
            previous[run.spec.seed] = prev
        complete = complete_seeds(runs, previous)
        # Snakemake deleted this block's manifest while every seed was complete and nothing about the job
        # changed: a forced rerun (--forcerun, or a changed rule). Train the block again from step 0.
        forced = rerun_of_complete_job and len(complete) == len(runs) and all(
            previous[r.spec.seed].get("block") == self.seeds
            and previous[r.spec.seed].get("labels") == list(r.spec.labels) for r in runs)
        todo = []
        for run in runs:
            prev = previous[run.spec.seed]
            relabelled = prev is not None and (prev.get("labels") != list(run.spec.labels)
                                               or prev.get("block") != self.seeds)
            if run.spec.seed in complete and not forced:
                run.status = prev["status"]
                if relabelled:  # a study now includes it, or its block changed: the records stand
                    write_json(run.run_json_path, {**prev, "labels": list(run.spec.labels),
                                                   "spec": run.spec.to_dict(), "block": self.seeds})
                continue
            if prev is not None and prev["status"] in ENDED and not forced:
                missing = incomplete_results(run.out_dir, prev)
                if relabelled and run.checkpoint_path.exists():
                    # Rerun because only its labels or block changed, with results gone: the final checkpoint
                    # holds every record, so the results are written again, not retrained.
                    run.restore(load_checkpoint(run.checkpoint_path, self.device))
                    run.status = prev["status"]
                    run.extra = {"diverged_at_step": run.step} if run.status == "diverged" else {}
                    run.write_outputs(data)
                    continue
                print(f"{run.out_dir}: run.json says {prev['status']} but {missing}: training again from step 0",
                      file=sys.stderr)
            if forced or (prev is not None and prev["status"] in ENDED):
                if forced:
                    print(f"{run.out_dir}: rerun of a finished job: training again from step 0", file=sys.stderr)
                run.checkpoint_path.unlink(missing_ok=True)
                remove_results(run.out_dir)
            elif run.checkpoint_path.exists():  # also when a workflow removed the outputs of an interrupted job
                state = load_checkpoint(run.checkpoint_path, self.device)
                if state["run_id"] != run.run_id:
                    raise RunConflict(f"{run.checkpoint_path} belongs to run {state['run_id']}, not {run.run_id}; "
                                      "delete it or choose another --out")
                run.restore(state)
                print(f"{run.out_dir}: resumed from step {run.step} (checkpoint.pt)", file=sys.stderr)
            run.status = "running"
            write_json(run.run_json_path, run.run_json(data))
            run.start_live()
            todo.append(run)
        return todo

    def _build_agent(self, runs: list[SeedRun], data: TaskData) -> OneStepAgent:
        agent = self.method.agent_class().for_seeds(data.train.obs_dim, data.train.action_dim, self.specs[0].agent,
                                                    [r.spec.seed for r in runs], self.device)
        if all(r.agent_state is not None for r in runs):
            agent.load_seed_states([r.agent_state for r in runs])
        for r in runs:
            r.agent_state = None
        return agent

    def _on_signal(self, signum, frame) -> None:
        self.signal_received = signum

    # Loop
    def _train_group(self, runs: list[SeedRun], data: TaskData) -> None:
        cfg = self.specs[0].train
        agent = self._build_agent(runs, data)
        states = snapshot_states(data, cfg.snapshot_states)
        latents = {r.spec.seed: r.snapshot_latents(agent, len(states)) for r in runs}
        step_fn = TrainStep(agent, data.train, [r.generator for r in runs], cfg.batch_size, self.mode)
        wall_start = time.perf_counter()
        wall_before = {r.spec.seed: r.timing["wall_seconds"] for r in runs}
        step = first_step = runs[0].step
        seeds = ", ".join(str(r.spec.seed) for r in runs)
        bar = tqdm(total=cfg.steps, initial=step, disable=not self.progress, mininterval=1.0, unit="upd",
                   desc=f"{self.specs[0].method} {self.specs[0].task} seed{'s' if len(runs) > 1 else ''} {seeds}")
        segment_start, segment_updates = time.perf_counter(), 0
        last_eval = (step, time.perf_counter())

        def wall(run: SeedRun) -> float:
            return wall_before[run.spec.seed] + time.perf_counter() - wall_start

        while step < cfg.steps and runs:
            step += 1
            log = step == 1 or step % cfg.log_interval == 0 or step == cfg.steps
            info = step_fn(with_metrics=log)
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
            elapsed = time.perf_counter() - segment_start
            for r in runs:
                r.step = step
                r.timing["update_seconds"] += elapsed
                r.timing["updates_timed"] += segment_updates
            if log:
                diverged = self._record(runs, step, info)
                if diverged:
                    seed_states = agent.seed_states()
                    for r, agent_state in zip(runs, seed_states):
                        if r in diverged:
                            r.status, r.extra = "diverged", {"diverged_at_step": step}
                            r.timing["wall_seconds"] = wall(r)
                            self._end(r, agent_state, data)
                    runs, agent, step_fn = self._without(runs, diverged, seed_states, data, step_fn)
                    if not runs:
                        break
            if validate:
                val_batch = data.val.sample(cfg.batch_size, [r.val_generator for r in runs])
                val_draws = agent.sample_draws(cfg.batch_size, [r.val_generator for r in runs])
                self._record(runs, step, agent.validation_info(val_batch, val_draws))
            if evaluate_now:
                scores = self._evaluate(runs, agent, data, step, states, latents)
                bar.set_postfix(score=f"{np.mean(scores):.1f}")
                now = time.perf_counter()
                rate = (step - last_eval[0]) / max(now - last_eval[1], 1e-9)  # updates/s, evaluations included
                last_eval = (step, now)
                # One line per evaluation, also in a job's log (no terminal): where the block stands.
                eta = timedelta(seconds=round((cfg.steps - step) / rate))
                tqdm.write(f"{self.specs[0].method} {self.specs[0].task} seed{'s' if len(runs) > 1 else ''} {seeds}: "
                           f"step {step}/{cfg.steps}, score {' '.join(f'{s:.1f}' for s in scores)}"
                           + (f" (mean {np.mean(scores):.1f})" if len(scores) > 1 else "")
                           + f", {rate:.2f} updates/s, ETA {eta}", file=sys.stderr)
            if checkpoint_now or stop:
                for r, agent_state in zip(runs, agent.seed_states()):
                    r.timing["wall_seconds"] = wall(r)
                    r.save_checkpoint(agent_state, data, keep_all=self.checkpoints == "all")
            elif log or evaluate_now:  # where the run stands, between checkpoints (drol status)
                rate = (step - first_step) / max(time.perf_counter() - wall_start, 1e-9)
                for r in runs:
                    r.report_progress(rate, data)
            if stop:
                for r in runs:
                    r.status = "interrupted"
                    # Only run.json: the result files appear when the run is done, so a workflow that sees
                    # them never mistakes an interrupted run for a finished one.
                    write_json(r.run_json_path, r.run_json(data))
                bar.close()
                return
            segment_start, segment_updates = time.perf_counter(), 0
        bar.close()
        if not runs:
            return
        obs = data.train.tensors["observations"][:1].expand(len(runs), 1, -1)
        gens = [torch.Generator(device=self.device).manual_seed(0) for _ in runs]
        ms_inference = time_calls(lambda: agent.sample_actions(obs, gens), repeats=100, warmup=10, device=self.device)
        for r, agent_state in zip(runs, agent.seed_states()):
            r.status = "finished"
            r.timing["ms_per_inference_step"] = ms_inference
            r.timing["wall_seconds"] = wall(r)
            self._end(r, agent_state, data)

    def _end(self, run: SeedRun, agent_state: dict, data: TaskData) -> None:
        """The final checkpoint (every record, for a later relabel) and the result files of one seed."""
        if self.checkpoints != "none":
            run.save_checkpoint(agent_state, data, keep_all=self.checkpoints == "all")
        run.write_outputs(data)
        if self.checkpoints == "none":  # after the results: a kill in between leaves a checkpoint, not a gap
            run.checkpoint_path.unlink(missing_ok=True)

    def _record(self, runs: list[SeedRun], step: int, info: dict[str, torch.Tensor]) -> list[SeedRun]:
        """Read the per-seed metrics back (the only host sync of a log step); returns the seeds whose
        metrics are not all finite."""
        values = torch.stack([v.float() for v in info.values()]).cpu().numpy()  # (metrics, seeds)
        diverged = []
        for s, run in enumerate(runs):
            run.record(step, dict(zip(info, values[:, s].tolist())))
            if not np.isfinite(values[:, s]).all():
                diverged.append(run)
        return diverged

    def _without(self, runs: list[SeedRun], gone: list[SeedRun], seed_states: list[dict], data: TaskData,
                 step_fn: TrainStep) -> tuple[list[SeedRun], OneStepAgent | None, TrainStep | None]:
        """The block without its diverged seeds: the others' state moves into a smaller agent."""
        keep = [i for i, r in enumerate(runs) if r not in gone]
        if not keep:
            return [], None, None
        runs = [runs[i] for i in keep]
        for r, i in zip(runs, keep):
            r.agent_state = seed_states[i]
        agent = self._build_agent(runs, data)
        return runs, agent, TrainStep(agent, data.train, [r.generator for r in runs], step_fn.batch_size,
                                      step_fn.mode)

    def _evaluate(self, runs: list[SeedRun], agent: OneStepAgent, data: TaskData, step: int,
                  states: torch.Tensor, latents: dict[int, torch.Tensor]) -> float:
        cfg = self.specs[0].train
        width = min(cfg.eval_episodes, cfg.eval_envs_per_seed)
        if self.eval_env is None or self.eval_env.num_envs != width * len(runs):
            if self.eval_env is not None:
                self.eval_env.close()
            # Built once per block: MuJoCo envs are slow to make.
            self.eval_env = data.make_env(width * len(runs), cfg.success_timing)

        def policy_for_wave(wave: int):
            gens = [torch.Generator(device=self.device).manual_seed(derived_seed(r.spec.seed, 3, step, wave))
                    for r in runs]
            return lambda obs: agent.sample_actions(obs, gens)

        start = time.perf_counter()
        env_seeds = [derived_seed(r.spec.seed, 4, step) % 2**31 for r in runs]
        frames = evaluate(policy_for_wave, self.eval_env, seeds=env_seeds, scorer=data.scorer, device=self.device,
                          episodes=cfg.eval_episodes)
        seconds = time.perf_counter() - start
        env_steps = int(sum(frame["length"].sum() for frame in frames))
        with torch.no_grad():
            z = torch.stack([latents[r.spec.seed] for r in runs])  # (seeds, states, samples, latent_dim)
            obs = states.expand(len(runs), *states.shape).unsqueeze(2).expand(-1, -1, z.shape[2], -1)
            candidates = agent.policy(obs, z).cpu().numpy()
        for r, frame, cands in zip(runs, frames, candidates):
            # Evaluation is shared by the block: each seed records the block's env steps and seconds.
            r.timing["eval_seconds"] += seconds
            r.timing["eval_env_steps"] += env_steps
            r.record_evaluation(step, frame, cands)
        return [float(frame["score"].mean()) for frame in frames]


def complete_seeds(runs: list[SeedRun], previous: dict[int, dict | None]) -> set[int]:
    """Seeds whose run ended and whose result files are complete and agree with run.json."""
    return {r.spec.seed for r in runs if (prev := previous[r.spec.seed]) is not None and prev["status"] in ENDED
            and incomplete_results(r.out_dir, prev) is None}


def _check_out_dir(out_dir: Path) -> None:
    """The run directory can be created and written, before any work: one line naming it otherwise."""
    existing = next((p for p in (out_dir, *out_dir.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise RunConflict(f"--out {out_dir}: {existing} is a file, not a directory; choose another --out")
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise RunConflict(f"--out {out_dir}: {existing} is not writable; choose a directory you can write")


def train_block(specs: list[RunSpec], out_dirs: list[Path | str], device: str | None = None, progress: bool = True,
                should_stop: Callable[[int], bool] | None = None, mode: str | None = None,
                checkpoints: str = "final", logger: str | None = None) -> list[str]:
    return Trainer(specs, [Path(d) for d in out_dirs], device, progress, should_stop, mode, checkpoints,
                   logger).run()


def train(spec: RunSpec, out_dir: Path | str, **options) -> str:
    """One seed: a block of one (options as `train_block`'s)."""
    return train_block([spec], [out_dir], **options)[0]
