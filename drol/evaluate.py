"""Batched evaluation: the episodes of every seed of a block in waves, one policy forward per env step.

An environment here is a batched env of `num_envs` = G groups x W environments: `reset(seeds, first)` (G
seeds) resets environment j of group g to episode `first + j` of seed seeds[g] (the same whatever W and
the block are) and returns obs (num_envs, obs_dim); `step(actions, idx) -> (obs, reward, done, success)`
steps the live environments `idx` only. Group g is seed g of the block. A seed's N episodes run in waves of
W (`eval_envs_per_seed`): an OGBench manipulation environment holds 150-200 MB, so a block's memory is
bounded by G x W environments, not G x N.
"""

from __future__ import annotations

import functools
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import torch


class BatchedEnv(Protocol):
    num_envs: int

    def reset(self, seeds: list[int], first: int = 0) -> np.ndarray: ...

    def step(self, actions: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...

    def close(self) -> None: ...


Scorer = Callable[[np.ndarray, np.ndarray], np.ndarray]


def success_score(returns: np.ndarray, successes: np.ndarray) -> np.ndarray:
    """OGBench and the toy task: success rate x 100."""
    return successes.astype(np.float64) * 100.0


def evaluate(policy_for_wave: Callable[[int], Callable[[torch.Tensor], torch.Tensor]], env: BatchedEnv,
             seeds: list[int], scorer: Scorer, device: torch.device | str = "cpu",
             episodes: int | None = None) -> list[pd.DataFrame]:
    """Run `episodes` episodes per group (default: one wave, env.num_envs // len(seeds)); per group, one row
    per episode: episode, success, return, score, length.

    The episodes run in waves of the env's environments per group. `policy_for_wave(w)` gives wave w's
    policy, which maps (groups, W, obs_dim) observations to (groups, W, action_dim) actions and holds its own
    RNGs (a fresh stream per wave, so a wave's draws do not depend on how long the previous wave ran).
    Every step it sees every environment (finished and unused ones keep their last observation), so the
    draws a group's policy makes do not depend on how long other episodes run; only live episodes step.
    """
    import torch

    groups = len(seeds)
    width = env.num_envs // groups
    episodes = width if episodes is None else episodes
    columns = {k: [[] for _ in range(groups)] for k in ("success", "return", "length")}
    for wave, first in enumerate(range(0, episodes, width)):
        size = min(width, episodes - first)
        policy = policy_for_wave(wave)
        obs = env.reset(seeds, first)
        alive = np.flatnonzero(np.arange(env.num_envs) % width < size)
        returns, lengths = np.zeros(env.num_envs), np.zeros(env.num_envs, np.int64)
        success = np.zeros(env.num_envs, bool)
        while alive.size:
            with torch.no_grad():
                batch = torch.as_tensor(obs, device=device).reshape(groups, width, -1)
                actions = policy(batch).reshape(env.num_envs, -1).cpu().numpy()
            next_obs, reward, done, succ = env.step(actions[alive], alive)
            returns[alive] += reward
            lengths[alive] += 1
            success[alive] = succ
            obs[alive] = next_obs
            alive = alive[~done]
        for g in range(groups):
            used = slice(g * width, g * width + size)
            for key, values in (("success", success), ("return", returns), ("length", lengths)):
                columns[key][g].append(values[used])
    frames = []
    for g in range(groups):
        success, returns = np.concatenate(columns["success"][g]), np.concatenate(columns["return"][g])
        frames.append(pd.DataFrame({"episode": np.arange(episodes), "success": success, "return": returns,
                                    "score": scorer(returns, success),
                                    "length": np.concatenate(columns["length"][g])}))
    return frames


class GymBatchedEnv:
    """N gymnasium environments as one batched env; only the live episodes are stepped.

    `success` is read from `info[success_key]` at each step (OGBench: "success"); `max_episode_steps`
    truncates episodes whose env has no TimeLimit of its own.
    """

    def __init__(self, envs: list, success_key: str = "success", max_episode_steps: int | None = None):
        self.envs, self.num_envs = envs, len(envs)
        self.success_key, self.max_episode_steps = success_key, max_episode_steps
        self.steps = np.zeros(self.num_envs, np.int64)

    def reset(self, seeds: list[int], first: int = 0) -> np.ndarray:
        """Environment j of group g to episode first + j of seed seeds[g]: reset from seeds[g] + first + j."""
        self.steps[:] = 0
        n = self.num_envs // len(seeds)
        return np.stack([env.reset(seed=seeds[i // n] + first + i % n)[0] for i, env in enumerate(self.envs)]
                        ).astype(np.float32)

    def step(self, actions: np.ndarray, idx: np.ndarray):
        obs, rewards, dones, successes = [], [], [], []
        for action, i in zip(np.clip(actions, -1, 1), idx):
            ob, reward, terminated, truncated, info = self.envs[i].step(action)
            self.steps[i] += 1
            limit = self.max_episode_steps is not None and self.steps[i] >= self.max_episode_steps
            obs.append(ob)
            rewards.append(reward)
            dones.append(terminated or truncated or limit)
            successes.append(bool(info.get(self.success_key, False)))
        return np.stack(obs).astype(np.float32), np.array(rewards, np.float64), np.array(dones), np.array(successes)

    def close(self) -> None:
        for env in self.envs:
            env.close()


def _env_worker(conn, make_envs: Callable[[], GymBatchedEnv]) -> None:
    """A worker process: builds its share of the environments, then answers reset/step/close.

    It ignores SIGINT and SIGTERM: a signal to the job's process group stops the trainer after its
    checkpoint, and the trainer closes its workers; if the trainer dies, the pipe ends and so does the worker.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        env = make_envs()
        conn.send(("ok", env.num_envs))
        while True:
            command, args = conn.recv()
            if command == "close":
                env.close()
                return
            conn.send(("ok", env.reset(*args) if command == "reset" else env.step(*args)))
    except EOFError:  # the trainer is gone
        return
    except Exception as err:  # noqa: BLE001 - reported to the trainer, which raises it
        conn.send(("error", f"{type(err).__name__}: {err}"))


def _receive(conn):
    kind, value = conn.recv()
    if kind == "error":
        raise RuntimeError(f"evaluation worker: {value}")
    return value


class ProcessBatchedEnv:
    """A batched env whose environments are spread over worker processes (MuJoCo steps in parallel).

    Worker w holds a contiguous share of the episodes, and each group of episodes is reset from its seed
    as `GymBatchedEnv` would do it, so the episodes are the same as in one process.
    """

    def __init__(self, make_share: Callable[[int, int], GymBatchedEnv], num_envs: int, workers: int):
        import multiprocessing as mp

        ctx = mp.get_context("spawn")  # the parent holds torch's thread pools: never fork it
        self.num_envs = num_envs
        bounds = np.linspace(0, num_envs, workers + 1).astype(int)
        self.shares = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
        self.conns, self.procs = [], []
        for first, end in self.shares:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_env_worker, args=(child, functools.partial(make_share, first, end)), daemon=True)
            proc.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(proc)
        for conn in self.conns:
            _receive(conn)  # built

    def reset(self, seeds: list[int], first: int = 0) -> np.ndarray:
        n = self.num_envs // len(seeds)
        for conn, (start, end) in zip(self.conns, self.shares):
            # Environment i of the block runs episode first + i % n of group i // n: give each worker its seeds.
            conn.send(("reset", ([seeds[i // n] + first + i % n for i in range(start, end)],)))
        return np.concatenate([_receive(conn) for conn in self.conns])

    def step(self, actions: np.ndarray, idx: np.ndarray):
        sent = []
        for conn, (first, end) in zip(self.conns, self.shares):
            mine = (idx >= first) & (idx < end)
            if mine.any():
                conn.send(("step", (actions[mine], idx[mine] - first)))
                sent.append(conn)
        parts = [_receive(conn) for conn in sent]
        return tuple(np.concatenate([p[k] for p in parts]) for k in range(4))

    def close(self) -> None:
        for conn, proc in zip(self.conns, self.procs):
            if proc.is_alive():  # a worker that reported an error has already ended
                try:
                    conn.send(("close", ()))
                except (BrokenPipeError, OSError):
                    pass
            proc.join(timeout=10)
            conn.close()


def batched_env(make_one: Callable[[], object], num_envs: int, workers: int | None = None,
                **options) -> GymBatchedEnv | ProcessBatchedEnv:
    """`num_envs` environments from `make_one` (picklable), in this process or spread over `workers`
    processes (default: one per CPU thread this process was given, `drol train --threads`; at most one per
    environment)."""
    import torch

    workers = min(num_envs, workers or torch.get_num_threads())
    if workers <= 1:
        return GymBatchedEnv([make_one() for _ in range(num_envs)], **options)
    return ProcessBatchedEnv(functools.partial(_gym_share, make_one, options), num_envs, workers)


def _gym_share(make_one: Callable[[], object], options: dict, first: int, end: int) -> GymBatchedEnv:
    return GymBatchedEnv([make_one() for _ in range(end - first)], **options)
