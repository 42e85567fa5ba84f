"""Regenerate OGBench datasets locally with the scripted oracles OGBench ships.

OGBench built its manipulation "play" datasets (cube, scene, puzzle) with non-Markovian plan oracles
(`ogbench.manipspace.oracles.plan`) that follow an interpolated keyframe plan with temporally smoothed
noise, and its pointmaze "navigate" datasets with a waypoint oracle: move towards the next cell on the BFS
path to the current goal, add Gaussian action noise, and draw a new goal each time the goal is reached.
Neither needs a trained policy, so the files can be rebuilt here at any size. This module follows the
procedure of OGBench's data-generation scripts (`data_gen_scripts/generate_manipspace.py` and
`generate_locomaze.py`, flags from its `commands.sh`) with its own code:

- one environment in OGBench's data-collection mode (`terminate_at_goal=False`), episodes of
  `episode_length` env steps (OGBench's `max_episode_steps`, 1001; 2001 for pointmaze-giant);
- the training episodes first, then `max(1, episodes // 10)` validation episodes, the same ratio as OGBench;
- the .npz layout of the released files: `observations`, `actions` (float32), `terminals` (bool, 1 on
  the last step of each episode), `qpos`, `qvel` (float32, the state *before* each step) and, for scene
  and puzzle, `button_states` (int64). Rewards and masks are not stored: OGBench's loader
  (`ogbench.make_env_and_datasets`) relabels them from qpos/button_states for singletask environments.

Differences from OGBench's scripts (which seed nothing): episode i's environment reset and numpy's global
RNG (which the oracles, the per-episode stacking probability and the action noise draw from) are seeded
from (seed, i), so the same seed gives the same episodes, and a dataset generated in shards (any number,
`drol.data.gen_files`) equals one generated whole. numpy's global RNG state is restored after generation
(not thread-safe). Byte identity holds for the same versions of ogbench, mujoco, numpy and zlib (recorded
in the sidecar). Writing the files: `drol.data.gen_files`.

Ant, humanoid and antsoccer datasets were collected with trained expert policies; they can only be
downloaded from OGBench.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from drol.data import DataError
from drol.data.ogbench import split_name  # the one OGBench name parser

# Validation episodes per training episode in OGBench's scripts (at least one here).
VAL_FRACTION = 10
# A scene episode is redrawn when the cube leaves the visible workspace; give up after this many in a row.
_MAX_REDRAWS = 100


@dataclass(frozen=True)
class GenSpec:
    """How OGBench generated one dataset family (values of its `commands.sh` and script defaults)."""

    env_id: str  # the OGBench environment the data is collected in
    kind: str  # "manipspace" or "pointmaze"
    dataset_type: str  # "play" or "navigate"
    oracle: str  # "plan" (manipspace plan oracles) or "waypoint" (pointmaze BFS subgoals)
    episodes: int  # training episodes of the released file
    episode_length: int  # env steps per episode (OGBench's max_episode_steps)
    noise: float  # plan noise scale (manipspace) or Gaussian action std (pointmaze)
    noise_smoothing: float | None = None  # Gaussian-filter sigma of the plan noise (manipspace)
    # Probability of stacking the new target block on another one: fixed, or drawn per episode from [lo, hi).
    p_stack: float | tuple[float, float] | None = None


def _play(env_id: str, episodes: int, p_stack) -> GenSpec:
    return GenSpec(env_id=env_id, kind="manipspace", dataset_type="play", oracle="plan", episodes=episodes,
                   episode_length=1001, noise=0.1, noise_smoothing=0.5, p_stack=p_stack)


def _navigate(env_id: str, episodes: int = 1000, episode_length: int = 1001) -> GenSpec:
    return GenSpec(env_id=env_id, kind="pointmaze", dataset_type="navigate", oracle="waypoint",
                   episodes=episodes, episode_length=episode_length, noise=0.5)


REGENERABLE: dict[str, GenSpec] = {
    "cube-single-play": _play("cube-single-v0", 1000, 0.0),
    "cube-double-play": _play("cube-double-v0", 1000, (0.0, 0.25)),
    "cube-triple-play": _play("cube-triple-v0", 3000, (0.05, 0.35)),
    "cube-quadruple-play": _play("cube-quadruple-v0", 5000, (0.1, 0.5)),
    "scene-play": _play("scene-v0", 1000, 0.5),
    "puzzle-3x3-play": _play("puzzle-3x3-v0", 1000, 0.5),
    "puzzle-4x4-play": _play("puzzle-4x4-v0", 1000, 0.5),
    "puzzle-4x5-play": _play("puzzle-4x5-v0", 3000, 0.5),
    "puzzle-4x6-play": _play("puzzle-4x6-v0", 5000, 0.5),
    "pointmaze-medium-navigate": _navigate("pointmaze-medium-v0"),
    "pointmaze-large-navigate": _navigate("pointmaze-large-v0"),
    "pointmaze-giant-navigate": _navigate("pointmaze-giant-v0", episodes=500, episode_length=2001),
    "pointmaze-teleport-navigate": _navigate("pointmaze-teleport-v0"),
}


def _ogbench_families() -> dict[str, str]:
    """Every dataset family OGBench releases that is not regenerated here -> why not."""
    expert = "its data was collected by OGBench's trained expert policies, which drol does not have"
    pixels = "it holds rendered pixel observations; drol regenerates state-based datasets only"
    other = ("drol regenerates only the cube/scene/puzzle play and pointmaze navigate datasets "
             "(this one uses another OGBench data recipe)")
    why = {}
    for maze in ("medium", "large", "giant", "teleport"):
        why[f"pointmaze-{maze}-stitch"] = other
        for kind in ("navigate", "stitch"):
            why[f"antmaze-{maze}-{kind}"] = expert
            why[f"visual-antmaze-{maze}-{kind}"] = expert
    for maze in ("medium", "large", "teleport"):
        why[f"antmaze-{maze}-explore"] = expert
        why[f"visual-antmaze-{maze}-explore"] = expert
    for maze in ("medium", "large", "giant"):
        for kind in ("navigate", "stitch"):
            why[f"humanoidmaze-{maze}-{kind}"] = expert
            why[f"visual-humanoidmaze-{maze}-{kind}"] = expert
    for arena in ("arena", "medium"):
        for kind in ("navigate", "stitch"):
            why[f"antsoccer-{arena}-{kind}"] = expert
    manip = [f"cube-{n}" for n in ("single", "double", "triple", "quadruple")] + ["scene"] + [
        f"puzzle-{size}" for size in ("3x3", "4x4", "4x5", "4x6")]
    for env in manip:
        why[f"{env}-noisy"] = other
        why[f"visual-{env}-play"] = pixels
        why[f"visual-{env}-noisy"] = pixels
    for level in ("easy", "medium", "hard"):
        why[f"powderworld-{level}-play"] = other
    return why


DOWNLOAD_ONLY: dict[str, str] = _ogbench_families()

def _known_families() -> str:
    return ", ".join(REGENERABLE) + f" (regenerable) and {len(DOWNLOAD_ONLY)} download-only OGBench families"


def dataset_name_for(task_or_family: str) -> str:
    """OGBench's dataset file stem of a task, dataset or family name.

    `cube-single-play-singletask-task1-v0`, `cube-single-play-v0` and `cube-single-play` all give
    `cube-single-play-v0` (the file `cube-single-play-v0.npz` and its `-val` file). Raises DataError for a
    name that is no OGBench dataset.
    """
    family, stem = split_name(task_or_family)
    if family not in REGENERABLE and family not in DOWNLOAD_ONLY:
        raise DataError(f"unknown OGBench task or dataset {task_or_family!r}: use a singletask task "
                        f"(e.g. cube-single-play-singletask-task1-v0), a dataset (cube-single-play-v0) or a "
                        f"family; known: {_known_families()}")
    return stem


def regenerable(task_or_family: str) -> bool:
    """Whether drol can regenerate the dataset of this task/dataset/family (False for unknown names)."""
    return split_name(task_or_family)[0] in REGENERABLE


def spec_for(task_or_family: str, data_dir: Path | None = None) -> GenSpec:
    """The generation settings of a regenerable dataset; DataError (naming the download) otherwise."""
    stem = dataset_name_for(task_or_family)
    family, _ = split_name(task_or_family)
    if family in REGENERABLE:
        return REGENERABLE[family]
    from ogbench.utils import DATASET_URL  # late: importing ogbench loads MuJoCo

    raise DataError(f"{task_or_family}: the OGBench dataset {stem} cannot be regenerated ({DOWNLOAD_ONLY[family]}); "
                    f"download it with `drol fetch-data {stem}" + (f" --data-dir {data_dir}" if data_dir else "")
                    + f"` (from {DATASET_URL}/{stem}.npz and {DATASET_URL}/{stem}-val.npz)")


# --------------------------------------------------------------------------------------------------------
# Generation


@contextmanager
def _kept_global_numpy() -> Iterator[None]:
    """Restore numpy's global RNG after generation (each episode seeds it: OGBench's oracles draw from it)."""
    state = np.random.get_state()
    try:
        yield
    finally:
        np.random.set_state(state)


class _Buffers:
    """Preallocated per-episode arrays in the released files' dtypes."""

    def __init__(self, length: int, shapes: dict[str, tuple[tuple[int, ...], type]]):
        self.arrays = {k: np.zeros((length, *shape), dtype) for k, (shape, dtype) in shapes.items()}
        self.n = 0

    def add(self, **values) -> None:
        for k, v in values.items():
            self.arrays[k][self.n] = v
        self.n += 1

    def episode(self) -> dict[str, np.ndarray]:
        return {k: v[: self.n].copy() for k, v in self.arrays.items()}


def _layout(ob, info, action_dim: int, buttons: bool) -> dict[str, tuple[tuple[int, ...], type]]:
    shapes = {"observations": (np.shape(ob), np.float32), "actions": ((action_dim,), np.float32),
              "terminals": ((), bool), "qpos": (np.shape(info["qpos"]), np.float32),
              "qvel": (np.shape(info["qvel"]), np.float32)}
    if buttons:
        shapes["button_states"] = (np.shape(info["button_states"]), np.int64)
    return shapes


class _Progress:
    """Advance a tqdm bar every few hundred env steps (a per-step update costs more than a pointmaze step)."""

    def __init__(self, bar, every: int = 200):
        self.bar, self.every, self.pending = bar, every, 0

    def step(self) -> None:
        self.pending += 1
        if self.pending >= self.every:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.bar.update(self.pending)
            self.pending = 0


def _manipspace_episodes(spec: GenSpec, env, indices: range, length: int, seed: int,
                         progress: _Progress) -> list[dict[str, np.ndarray]]:
    from ogbench.manipspace.oracles.plan.button_plan import ButtonPlanOracle
    from ogbench.manipspace.oracles.plan.cube_plan import CubePlanOracle
    from ogbench.manipspace.oracles.plan.drawer_plan import DrawerPlanOracle
    from ogbench.manipspace.oracles.plan.window_plan import WindowPlanOracle

    noise = dict(noise=spec.noise, noise_smoothing=spec.noise_smoothing)
    if spec.env_id.startswith("cube"):
        oracles = {"cube": CubePlanOracle(env=env, **noise)}
    elif spec.env_id.startswith("scene"):
        oracles = {"cube": CubePlanOracle(env=env, **noise), "button": ButtonPlanOracle(env=env, **noise),
                   "drawer": DrawerPlanOracle(env=env, **noise), "window": WindowPlanOracle(env=env, **noise)}
    else:  # puzzle: only buttons, pressed with the gripper closed
        oracles = {"button": ButtonPlanOracle(env=env, gripper_always_closed=True, **noise)}
    unwrapped = env.unwrapped
    buttons = hasattr(unwrapped, "_cur_button_states")
    action_dim = env.action_space.shape[0]

    check_health = spec.env_id.startswith("scene")
    episodes, buffers = [], None
    for index in indices:
        for attempt in range(_MAX_REDRAWS + 1):
            ob, info = env.reset(seed=_seed_episode(seed, index, attempt))
            if isinstance(spec.p_stack, tuple):
                p_stack = np.random.uniform(*spec.p_stack)
            else:
                p_stack = spec.p_stack
            oracle = oracles[info["privileged/target_task"]]
            oracle.reset(ob, info)
            done, healthy = False, True
            while not done:
                action = np.clip(np.asarray(oracle.select_action(ob, info)), -1, 1)
                next_ob, _, terminated, truncated, info = env.step(action)
                done = terminated or truncated
                if oracle.done:  # the current target is reached: draw the next one
                    target_ob, target_info = unwrapped.set_new_target(p_stack=p_stack)
                    oracle = oracles[target_info["privileged/target_task"]]
                    oracle.reset(target_ob, target_info)
                if buffers is None:
                    buffers = _Buffers(length, _layout(ob, {"qpos": info["prev_qpos"], "qvel": info["prev_qvel"],
                                                            "button_states": info.get("prev_button_states")},
                                                       action_dim, buttons))
                row = dict(observations=ob, actions=action, terminals=done, qpos=info["prev_qpos"],
                           qvel=info["prev_qvel"])
                if buttons:
                    row["button_states"] = info["prev_button_states"]
                buffers.add(**row)
                if check_health and healthy:  # on the float64 state, as OGBench does (not the stored float32)
                    healthy = _scene_healthy(info["prev_qpos"][None])
                ob = next_ob
                progress.step()
            episode = buffers.episode()
            buffers.n = 0
            if healthy:
                episodes.append(episode)
                break
            # As OGBench does: the cube must stay visible (in the workspace or in the drawer); redraw.
            progress.flush()
            progress.bar.total += len(episode["qpos"])
            progress.bar.refresh()
        else:
            raise DataError(f"{spec.env_id}: episode {index} left the workspace in {_MAX_REDRAWS + 1} draws in "
                            "a row; use another seed or episode length")
    return episodes


def _seed_episode(seed: int, index: int, attempt: int = 0) -> int:
    """Seed numpy's global RNG (the oracles, p_stack and action noise draw from it) for one episode, and
    return the env's reset seed: both from (seed, episode index, draw), so an episode is the same whichever
    shard generates it."""
    env_seed, global_seed = (int(s) for s in np.random.SeedSequence((seed, index, attempt)).generate_state(2))
    np.random.seed(global_seed)
    return env_seed


def _scene_healthy(qpos: np.ndarray) -> bool:
    """OGBench's check for scene data: the cube never goes too far right, nor too far left outside the drawer."""
    cube = qpos[:, 14:17]
    too_right = (cube[:, 1] >= 0.29).any()
    too_left = ((cube[:, 1] <= -0.3) & ((cube[:, 2] < 0.06) | (cube[:, 2] > 0.08))).any()
    return not (too_right or too_left)


def _maze_cells(maze_map: np.ndarray) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Free cells, and the free cells that are not the middle of a straight corridor (goal candidates)."""
    free, vertices = [], []
    rows, cols = maze_map.shape
    for i in range(rows):
        for j in range(cols):
            if maze_map[i, j] != 0:
                continue
            free.append((i, j))
            up, down = maze_map[i - 1, j] == 0, maze_map[i + 1, j] == 0
            left, right = maze_map[i, j - 1] == 0, maze_map[i, j + 1] == 0
            corridor = (up and down and not left and not right) or (left and right and not up and not down)
            if not corridor:
                vertices.append((i, j))
    return free, vertices


def _pointmaze_episodes(spec: GenSpec, env, indices: range, length: int, seed: int,
                        progress: _Progress) -> list[dict[str, np.ndarray]]:
    unwrapped = env.unwrapped
    free, vertices = _maze_cells(unwrapped.maze_map)
    action_dim = env.action_space.shape[0]
    episodes, buffers = [], None
    for index in indices:
        reset_seed = _seed_episode(seed, index)
        start = free[np.random.randint(len(free))]
        goal = vertices[np.random.randint(len(vertices))]
        ob, _ = env.reset(seed=reset_seed, options={"task_info": {"init_ij": start, "goal_ij": goal}})
        done = False
        while not done:
            # Waypoint oracle: unit direction to the next cell on the BFS path to the goal, plus noise.
            xy = unwrapped.get_xy()
            waypoint, _ = unwrapped.get_oracle_subgoal(xy, unwrapped.cur_goal_xy)
            direction = waypoint - xy
            direction = direction / (np.linalg.norm(direction) + 1e-6)
            action = np.clip(direction + np.random.normal(0, spec.noise, direction.shape), -1, 1)
            next_ob, _, terminated, truncated, info = env.step(action)
            done = terminated or truncated
            if info["success"]:  # navigate: a new goal each time the current one is reached
                unwrapped.set_goal(vertices[np.random.randint(len(vertices))])
            if buffers is None:
                buffers = _Buffers(length, _layout(ob, {"qpos": info["prev_qpos"], "qvel": info["prev_qvel"]},
                                                   action_dim, False))
            buffers.add(observations=ob, actions=action, terminals=done, qpos=info["prev_qpos"],
                        qvel=info["prev_qvel"])
            ob = next_ob
            progress.step()
        episodes.append(buffers.episode())
        buffers.n = 0
    return episodes


def _make_env(spec: GenSpec, length: int):
    import gymnasium
    import ogbench  # noqa: F401  (registers the environments)

    kwargs = dict(terminate_at_goal=False, max_episode_steps=length)
    if spec.kind == "manipspace":
        kwargs["mode"] = "data_collection"
    return gymnasium.make(spec.env_id, **kwargs)


def shard_range(total: int, shard: int, shards: int) -> range:
    """Shard `shard` of `shards` of `total` items: contiguous, sizes differing by at most one."""
    return range(total * shard // shards, total * (shard + 1) // shards)


def collect(spec: GenSpec, episodes: int, seed: int, episode_length: int | None = None, progress: bool = True,
            desc: str | None = None, shard: int = 0, shards: int = 1
            ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray] | None]:
    """Run the oracle for shard `shard` of `shards` of the dataset's `episodes` training and
    `max(1, episodes // 10)` validation episodes (all of them by default).

    Returns (train, val) arrays in the released files' layout; val is None for a shard without validation
    episodes. Episode i is seeded from (seed, i) alone, so concatenating the shards in order gives exactly
    the unsharded arrays.
    """
    from tqdm import tqdm

    length = episode_length or spec.episode_length
    n_val = max(1, episodes // VAL_FRACTION)
    splits = [shard_range(episodes, shard, shards), range(episodes + shard_range(n_val, shard, shards).start,
                                                          episodes + shard_range(n_val, shard, shards).stop)]
    run = _manipspace_episodes if spec.kind == "manipspace" else _pointmaze_episodes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gymnasium's env checker on OGBench's float64 observations
        env = _make_env(spec, length)
        env.action_space.seed(seed)  # unused by the oracles; seeded so that nothing is left unseeded
        bar = tqdm(total=sum(map(len, splits)) * length, unit="step", unit_scale=True, desc=desc or spec.env_id,
                   disable=not progress, mininterval=1.0)
        counter = _Progress(bar)
        try:
            with _kept_global_numpy():
                data = [run(spec, env, indices, length, seed, counter) for indices in splits]
        finally:
            counter.flush()
            bar.close()
            env.close()
    train, val = ({k: np.concatenate([ep[k] for ep in split]) for k in split[0]} if split else None
                  for split in data)
    return train, val
