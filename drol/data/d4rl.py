"""D4RL tasks of the paper: 6 antmaze-v2 and 12 adroit-v1 datasets, their evaluation environments and scores.

Routes (`load_d4rl(task, device, route=...)`; the route is recorded with every dataset and run)
----------------------------------------------------------------------------------------------
- ``hdf5`` (default, recorded as ``d4rl-hdf5``): the original D4RL files read with h5py from
  ``$DROL_D4RL_DIR``, else D4RL's own ``$D4RL_DATASET_DIR``, else ``~/.d4rl/datasets`` (file names in
  ``drol/registry/d4rl_ref_scores.csv``; D4RL hosts them under
  ``http://rail.eecs.berkeley.edu/datasets/offline_rl/ant_maze_v2/`` and ``.../hand_dapg_v1/``).
  Never downloads. Needs no MuJoCo.
- ``d4rl`` (recorded as ``d4rl-package``): ``d4rl.qlearning_dataset(gym.make(task))``, where ``import d4rl``
  works (MuJoCo 2.1 + mujoco-py; it downloads missing files itself). Same arrays as ``hdf5``.
- ``minari`` (recorded as ``minari``): the maintained Minari re-releases (``D4RL/antmaze/umaze-v1``,
  ``D4RL/pen/human-v2``, ...) from a local root (``data_dir``, else ``$MINARI_DATASETS_PATH``, else
  ``~/.minari/datasets``); never downloads. These are *different data* (see below).

Preprocessing (``hdf5`` and ``d4rl`` routes): the reference pipeline
--------------------------------------------------------------------
DROL reuses FQL's ``envs/d4rl_utils.py``, which first calls ``d4rl.qlearning_dataset(env)`` with its
default ``terminate_on_end=False``. `qlearning_transitions` reproduces that function on the raw file:
transition i (for i < N - 1) is (obs[i], act[i], rew[i], obs[i + 1], terminals[i]); rows with
``timeouts[i]`` set are dropped (no terminal is applied there), and the file's last row is never a
transition. Observations, actions and rewards are float32, terminals bool. `reference_preprocess` then
applies FQL's step: masks = 1 - terminals; an episode ends at i where ||obs[i + 1] - next_obs[i]|| > 1e-6
(antmaze), or there or at a terminal (adroit), and at the last transition; antmaze rewards are shifted
by -1 (sparse {0, 1} -> {-1, 0}). The episode ends are returned as ``episode_ends`` (FQL calls them
"terminals"); training uses observations, actions, rewards, masks and next_observations. Dataset actions
are clipped to 1 - 1e-5 by `drol.data.Dataset` as FQL does.

Scores
------
`normalized_score_fn` gives 100 * (return - ref_min) / (ref_max - ref_min) with D4RL's reference scores
(antmaze 0/1, so the score is 100 x success since evaluation episodes end at the goal; adroit v1 uses
the adroit v0 human references, as D4RL does). The same normalisers are used on every route (Minari
ships its own, recomputed ref_min/ref_max scores; they are not used).

Evaluation environments (gymnasium-robotics) and every mismatch with D4RL found
------------------------------------------------------------------------------
Episode limits follow D4RL's registrations, which FQL's evaluation (gym TimeLimit through shimmy) uses:
pen 100, door/hammer/relocate 200, antmaze-medium/large 1000, **antmaze-umaze and umaze-diverse 700**
(`episode_limit` here is D4RL's per task; OGBench's per-family limits are in ``drol.data.ogbench``).

Adroit (``AdroitHand{Pen,Door,Hammer,Relocate}-v1``, wrapped by `D4RLAdroit`): observation and action
spaces match D4RL (pen 45/24, door 39/28, hammer 46/26, relocate 39/30), the observation functions,
resets, frame skip (5), action normalisation and success tests (``goal_achieved``) are D4RL's. Mismatches:

- gymnasium-robotics 1.2.1-1.4.2 flipped the sign of the hand-to-object term of the dense reward of
  door, hammer and relocate (+0.1 * distance instead of -0.1 * distance; Gymnasium-Robotics PR #220,
  fixed only in new ``-v2`` envs). `D4RLAdroit` recomputes D4RL's reward from the simulator state, so
  returns are D4RL's whatever the installed version.
- D4RL's pen ends the episode (done=True) when the pen falls (object z < 0.075); gymnasium-robotics'
  pen never terminates. `D4RLAdroit` terminates there, as D4RL does.
- gymnasium-robotics registers pen with 200 steps (D4RL: 100); the limit is set to D4RL's here.
- The success flag is ``info["success"]`` (D4RL: ``info["goal_achieved"]``, also set by the wrapper).
- Physics: the models run on the ``mujoco`` bindings (3.x/4.x) instead of MuJoCo 2.0/mujoco-py, with
  gymnasium-robotics' copies of the DAPG assets: dynamics are close but not bit-identical to D4RL's.

AntMaze (``AntMaze_{UMaze,Medium,Large}-v5``, wrapped by `D4RLAntMaze`). D4RL's antmaze observation is
29-dim: ``qpos[:15]`` (torso x, y, z, quaternion, 8 joint angles) + ``qvel[:14]``, with no goal in it;
gymnasium-robotics returns a dict whose ``achieved_goal`` is the torso x, y and whose ``observation`` is
``qpos[2:15] + qvel[:14]`` (27-dim with ``include_cfrc_ext_in_observation=False``; 105 with the v5 default
contact forces). So the D4RL observation is [achieved_goal, observation], *not* observation +
desired_goal. Mismatches, and what the wrapper does about each:

- Frame: D4RL places the ant's start cell at the origin with y growing with the maze row; gymnasium-
  robotics centres the maze on the origin with y *decreasing* with the row (a mirror image in y). The
  wrapper builds the maze from D4RL's test map with its rows reversed, which makes the two worlds equal up
  to a translation, and adds that translation to the x, y it reports (so the policy sees D4RL's frame).
- Maps: D4RL's evaluation maps (U_MAZE_TEST, BIG_MAZE_TEST, HARDEST_MAZE_TEST) with one start and one
  goal cell; gymnasium-robotics' registered ``AntMaze_Medium/Large`` have no start/goal cells (random
  cells) and its diverse variants several goals. The wrapper passes D4RL's map (`ANTMAZE_MAPS`).
- Start: D4RL puts the torso at the start cell's centre with uniform(-0.1, 0.1) noise on every qpos
  entry and 0.1 * N(0, 1) on every qvel entry; gymnasium-robotics adds uniform(-1, 1) m to x, y and no
  joint noise (``reset_noise_scale=0``). The wrapper resets the state D4RL's way.
- Goal: D4RL places the goal at the goal cell's centre plus uniform(0, 1) + uniform(0, 0.5) m per axis
  (towards +x, +y only: 0 to 1.5 m), resampled every episode (``v2_resets``); gymnasium-robotics samples
  uniform(-1, 1) m around the centre. The wrapper samples D4RL's goal.
- Goal radius: D4RL's sparse reward and termination use distance <= 0.5; gymnasium-robotics 0.45. The
  wrapper uses 0.5 (reward 1 and termination at the goal; ``continuing_task=False``).
- Ant model: gymnasium's ``ant.xml`` has timestep 0.01 (dt = 0.05 s per env step) and motors with
  ctrlrange [-1, 1] and gear 150 (torque up to 150); D4RL's ``locomotion/assets/ant.xml`` has timestep
  0.02 (dt = 0.1 s), motors with ctrlrange [-30, 30] and gear 1 (torque up to 30, actions in [-1, 1]
  scaled by D4RL's NormalizedBoxEnv), and contact defaults solref ".02 1", solimp ".8 .8 .01". The
  bodies, joints, ranges and frame skip (5) are the same. With ``ant_model="d4rl"`` (default) the
  wrapper loads gymnasium's ant.xml patched to D4RL's values (`d4rl_ant_xml`) and scales actions by 30;
  ``ant_model="gymnasium"`` keeps gymnasium's ant (policies trained on D4RL data then see 5x stronger,
  2x faster-stepped motors).
- Physics engine: MuJoCo 2.0 through mujoco-py (D4RL) against the current ``mujoco`` bindings; the
  wall geometry (4 m cells, 2 m high blocks) is the same.

Minari re-releases: where their data differ from the original D4RL v1/v2 files
------------------------------------------------------------------------------
- AntMaze (``D4RL/antmaze/*``): newly collected, not converted. Data come from gymnasium-robotics'
  AntMaze (gymnasium's ant: gear 150, dt 0.05 s; gymnasium-robotics' frame) driven by a new SAC
  goal-reaching policy following QIteration waypoints with 0.2 action noise, 1M steps, success radius
  0.45, continuing-task collection with goals in the gymnasium-robotics maps (the umaze map flipped to
  D4RL's orientation, medium/large not). Observations are dicts (converted here to
  [achieved_goal, observation[:27]], in gymnasium-robotics' frame); rewards are gymnasium-robotics'
  sparse reward. Its transitions and returns are therefore not D4RL's, and its evaluation environment is
  the dataset's own (its recorded ``eval_env_spec``, with gymnasium's ant, not `D4RLAntMaze`).
- Adroit (``D4RL/{pen,door,hammer,relocate}/*-v2``): D4RL v1's actions replayed in gymnasium-robotics'
  AdroitHand*-v1 from each episode's saved initial state, so observations are re-simulated with new
  MuJoCo (they drift from the files' observations), rewards are the installed gymnasium-robotics'
  (with the door/hammer/relocate sign bug above if it was 1.2.1-1.4.2), terminations come from that env
  (pen never terminates) and episode boundaries are D4RL's timeouts.
- Every Minari episode keeps its last step (its next observation is stored), where
  ``qlearning_dataset`` drops each timeout step; the Minari route converts every step of every episode
  to a transition (next_obs = the stored next observation, terminals = ``terminations``), then applies
  the same reference masks/episode ends/reward shift, with an episode end at every Minari episode's end.
"""

from __future__ import annotations

import atexit
import contextlib
import csv
import functools
import io
import os
import re
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from drol.data import DataError, Dataset, DataSettings, Suite, TaskData, validate_transitions

if TYPE_CHECKING:
    import torch

ROUTES = ("hdf5", "d4rl", "minari")
ROUTE_LABELS = {"hdf5": "d4rl-hdf5", "d4rl": "d4rl-package", "minari": "minari"}
HDF5_KEYS = ("observations", "actions", "rewards", "terminals", "timeouts")
D4RL_URLS = {"antmaze": "http://rail.eecs.berkeley.edu/datasets/offline_rl/ant_maze_v2",
             "adroit": "http://rail.eecs.berkeley.edu/datasets/offline_rl/hand_dapg_v1"}
# Threshold of FQL's episode-boundary test on consecutive observations.
EPISODE_GAP = 1e-6

# D4RL's antmaze evaluation maps in D4RL's orientation (row 0 = smallest y): '#' wall, '.' free,
# 'r' the start cell (D4RL's origin), 'g' the goal cell.
ANTMAZE_MAPS = {
    "umaze": ("#####",
              "#r..#",
              "###.#",
              "#g..#",
              "#####"),
    "medium": ("########",
               "#r.##..#",
               "#..#...#",
               "##...###",
               "#..#...#",
               "#.#..#.#",
               "#...#.g#",
               "########"),
    "large": ("############",
              "#r...#.....#",
              "#.##.#.#.#.#",
              "#......#...#",
              "#.####.###.#",
              "#..#.#.....#",
              "##.#.#.#.###",
              "#..#...#.g.#",
              "############"),
}
MAZE_SCALING = 4.0  # metres per maze cell (D4RL and gymnasium-robotics)
D4RL_GOAL_RADIUS = 0.5
D4RL_ANT_ACTION_SCALE = 30.0  # D4RL's motors: ctrlrange [-30, 30], gear 1


@dataclass(frozen=True)
class D4RLSpec:
    """What this module needs to know about one D4RL task."""

    name: str
    domain: str  # "antmaze" or "adroit"
    env: str  # "umaze"/"medium"/"large" for antmaze; "pen"/"door"/"hammer"/"relocate" for adroit
    obs_dim: int
    action_dim: int
    episode_limit: int  # D4RL's registered max_episode_steps
    hdf5_file: str
    minari_name: str  # Minari dataset name without its version
    minari_version: int  # the version we know of; any local version of the name is accepted

    @property
    def url(self) -> str:
        return f"{D4RL_URLS[self.domain]}/{self.hdf5_file}"

    @property
    def gym_id(self) -> str:
        if self.domain == "antmaze":
            return {"umaze": "AntMaze_UMaze-v5", "medium": "AntMaze_Medium-v5", "large": "AntMaze_Large-v5"}[self.env]
        return f"AdroitHand{self.env.capitalize()}-v1"

    @property
    def minari_id(self) -> str:
        return f"{self.minari_name}-v{self.minari_version}"


ADROIT_DIMS = {"pen": (45, 24, 100), "door": (39, 28, 200), "hammer": (46, 26, 200), "relocate": (39, 30, 200)}


@functools.cache
def reference_table() -> dict[str, dict]:
    """Task -> {ref_min_score, ref_max_score, hdf5_file}, from drol/registry/d4rl_ref_scores.csv."""
    with resources.files("drol.registry").joinpath("d4rl_ref_scores.csv").open() as f:
        return {row["task"]: {"ref_min_score": float(row["ref_min_score"]),
                              "ref_max_score": float(row["ref_max_score"]), "hdf5_file": row["hdf5_file"]}
                for row in csv.DictReader(f)}


@functools.cache
def d4rl_specs() -> dict[str, D4RLSpec]:
    specs = {}
    for name, row in reference_table().items():
        stem = name.rsplit("-v", 1)[0]
        if name.startswith("antmaze-"):
            layout = stem.split("-")[1]  # umaze / medium / large
            dataset = stem[len("antmaze-"):]
            specs[name] = D4RLSpec(name, "antmaze", layout, 29, 8, 700 if layout == "umaze" else 1000,
                                   row["hdf5_file"], f"D4RL/antmaze/{dataset}", 1)
        else:
            env, dataset = stem.split("-", 1)
            obs_dim, action_dim, limit = ADROIT_DIMS[env]
            specs[name] = D4RLSpec(name, "adroit", env, obs_dim, action_dim, limit, row["hdf5_file"],
                                   f"D4RL/{env}/{dataset}", 2)
    return specs


def d4rl_spec(task_name: str) -> D4RLSpec:
    specs = d4rl_specs()
    if task_name not in specs:
        raise DataError(f"task {task_name!r} is not one of the {len(specs)} D4RL tasks "
                        f"({', '.join(sorted(specs))})")
    return specs[task_name]


def episode_limit(task_name: str) -> int:
    """D4RL's registered episode length of the task (700 for the two umaze tasks, not 1000)."""
    return d4rl_spec(task_name).episode_limit


# ----------------------------------------------------------------------------------------------- scores

def _normalized_score(returns, successes, *, ref_min: float, ref_max: float) -> np.ndarray:
    return 100.0 * (np.asarray(returns, dtype=np.float64) - ref_min) / (ref_max - ref_min)


def normalized_score_fn(task_name: str):
    """Scorer `(returns, successes) -> 100 * (return - ref_min) / (ref_max - ref_min)` of a D4RL task."""
    row = reference_table().get(task_name)
    if row is None:
        raise DataError(f"task {task_name!r} has no D4RL reference scores in drol/registry/d4rl_ref_scores.csv")
    return functools.partial(_normalized_score, ref_min=row["ref_min_score"], ref_max=row["ref_max_score"])


# ------------------------------------------------------------------------------------- preprocessing

def qlearning_transitions(raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`d4rl.qlearning_dataset(env, dataset=raw)` with terminate_on_end=False, for files with 'timeouts'.

    Returns observations, actions, next_observations, rewards (float32) and terminals (bool).
    """
    n = len(raw["rewards"])
    keep = ~np.asarray(raw["timeouts"][: n - 1]).astype(bool)  # row i is a transition unless it timed out
    obs = np.asarray(raw["observations"], dtype=np.float32)
    return {"observations": obs[: n - 1][keep],
            "actions": np.asarray(raw["actions"][: n - 1], dtype=np.float32)[keep],
            "next_observations": obs[1:n][keep],
            "rewards": np.asarray(raw["rewards"][: n - 1], dtype=np.float32)[keep],
            "terminals": np.asarray(raw["terminals"][: n - 1]).astype(bool)[keep]}


def reference_preprocess(q: dict[str, np.ndarray], antmaze: bool,
                         extra_ends: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """FQL's step after qlearning_dataset: masks, episode ends and (antmaze) rewards - 1.

    `extra_ends` (bool per transition) adds known episode ends (the Minari route's episode boundaries).
    """
    obs, next_obs = q["observations"], q["next_observations"]
    terminals = np.asarray(q["terminals"]).astype(bool)
    n = len(obs)
    ends = np.zeros(n, dtype=bool)
    if n:
        gap = np.linalg.norm(obs[1:] - next_obs[:-1], axis=1) > EPISODE_GAP
        ends[:-1] = gap if antmaze else gap | terminals[:-1]
        ends[-1] = True
    if extra_ends is not None:
        ends |= extra_ends
    rewards = np.asarray(q["rewards"], dtype=np.float32)
    return {"observations": obs.astype(np.float32), "actions": np.asarray(q["actions"], dtype=np.float32),
            "next_observations": next_obs.astype(np.float32),
            "rewards": rewards - 1.0 if antmaze else rewards.copy(),
            "masks": 1.0 - terminals.astype(np.float32), "terminals": terminals,
            "episode_ends": ends}


# ------------------------------------------------------------------------------------ hdf5 route

def default_d4rl_dir() -> Path:
    """$DROL_D4RL_DIR, else D4RL's own $D4RL_DATASET_DIR, else ~/.d4rl/datasets (D4RL's default)."""
    path = os.environ.get("DROL_D4RL_DIR") or os.environ.get("D4RL_DATASET_DIR") or "~/.d4rl/datasets"
    return Path(path).expanduser()


def hdf5_path(task_name: str, data_dir: Path | None = None) -> Path:
    return (Path(data_dir) if data_dir is not None else default_d4rl_dir()) / d4rl_spec(task_name).hdf5_file


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def read_hdf5(path: Path, spec: D4RLSpec) -> dict[str, np.ndarray]:
    """The raw arrays D4RL's get_dataset returns (rewards/terminals/timeouts squeezed to (N,)), checked."""
    if not path.exists():
        raise DataError(f"{path}: D4RL file of {spec.name} not found (looked in {path.parent}: $DROL_D4RL_DIR, "
                        f"else $D4RL_DATASET_DIR, else ~/.d4rl/datasets; never downloaded here); download it "
                        f"from {spec.url} into that directory, or use route='minari'")
    try:
        import h5py
    except ImportError:
        raise DataError(f"{path}: reading D4RL files needs h5py: pip install h5py "
                        "(or pip install 'drol[d4rl]')") from None

    fix = f"delete it and download it again from {spec.url}"
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in HDF5_KEYS if not isinstance(f.get(k), h5py.Dataset)]
            if missing:
                hint = " (a D4RL file without 'timeouts' is an old version)" if missing == ["timeouts"] else ""
                raise DataError(f"{path}: missing key(s) {', '.join(missing)}{hint}; it is not the D4RL "
                                f"{spec.name} file: {fix}")
            raw = {k: f[k][()] for k in HDF5_KEYS}
    except DataError:
        raise
    except (OSError, RuntimeError, ValueError, KeyError) as err:
        raise DataError(f"{path}: cannot read the HDF5 file ({_one_line(err)}); it is truncated or corrupt: "
                        f"{fix}") from None
    n = raw["observations"].shape[0] if raw["observations"].ndim else 0
    for key in ("rewards", "terminals", "timeouts"):
        if raw[key].ndim == 2 and raw[key].shape[1] == 1:
            raw[key] = raw[key][:, 0]
    expected = {"observations": (n, spec.obs_dim), "actions": (n, spec.action_dim),
                "rewards": (n,), "terminals": (n,), "timeouts": (n,)}
    for key, shape in expected.items():
        if tuple(raw[key].shape) != shape:
            raise DataError(f"{path}: key '{key}' has shape {tuple(raw[key].shape)}, {spec.name} needs {shape} "
                            f"(obs {spec.obs_dim}, actions {spec.action_dim}, N = len(observations)); the file "
                            f"belongs to another task or version: {fix}")
    if n < 2:
        raise DataError(f"{path}: holds {n} sample(s), no transition; {fix}")
    return raw


def load_hdf5_arrays(task_name: str, data_dir: Path | None = None) -> tuple[dict[str, np.ndarray], str]:
    """Transition arrays of the hdf5 route, exactly the reference pipeline's; and the file they came from."""
    spec = d4rl_spec(task_name)
    path = hdf5_path(task_name, data_dir)
    raw = read_hdf5(path, spec)
    arrays = reference_preprocess(qlearning_transitions(raw), spec.domain == "antmaze")
    if not len(arrays["observations"]):
        raise DataError(f"{path}: every sample is a timeout, no transition is left; re-download it from {spec.url}")
    return arrays, str(path)


# -------------------------------------------------------------------------------------- d4rl route

def load_d4rl_package_arrays(task_name: str) -> tuple[dict[str, np.ndarray], str]:
    """The d4rl route: `d4rl.qlearning_dataset(gym.make(task))` (d4rl downloads what is missing)."""
    spec = d4rl_spec(task_name)
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            import d4rl
            import gym

            env = gym.make(task_name)
    except Exception as err:  # ImportError, mujoco-py build errors, gym registration errors
        raise DataError(f"route 'd4rl' for {task_name}: `import d4rl` failed ({_one_line(err)}); it needs MuJoCo "
                        f"2.1 and mujoco-py. Use route='hdf5', which reads the same D4RL file "
                        f"({spec.hdf5_file}) with h5py") from None
    source = str(getattr(env.unwrapped, "dataset_filepath", task_name))
    try:
        q = d4rl.qlearning_dataset(env)
    except Exception as err:  # a failed download, a corrupt file, d4rl's own shape assertions
        raise DataError(f"{source}: d4rl could not load the dataset of {task_name} ({_one_line(err)}); delete the "
                        f"file and let d4rl download it again, or use route='hdf5' with {spec.url}") from None
    finally:
        env.close()
    return reference_preprocess(q, spec.domain == "antmaze"), source


# ------------------------------------------------------------------------------------ minari route

def minari_root(data_dir: Path | None = None) -> Path:
    """`data_dir`, else $MINARI_DATASETS_PATH, else ~/.minari/datasets (Minari's default)."""
    if data_dir is not None:
        return Path(data_dir)
    return Path(os.environ.get("MINARI_DATASETS_PATH") or "~/.minari/datasets").expanduser()


def find_minari_dataset(task_name: str, root: Path) -> tuple[str, Path]:
    """(dataset id, data directory) of the newest local version of the task's Minari dataset."""
    spec = d4rl_spec(task_name)
    namespace, name = spec.minari_name.rsplit("/", 1)
    found = []
    parent = root / namespace
    if parent.is_dir():
        for child in parent.iterdir():
            m = re.fullmatch(re.escape(name) + r"-v(\d+)", child.name)
            if m and (child / "data").is_dir():
                found.append((int(m[1]), child))
    if not found:
        raise DataError(f"{root / spec.minari_id}: Minari dataset {spec.minari_id} of {task_name} not found under "
                        f"{root} (data_dir, else $MINARI_DATASETS_PATH, else ~/.minari/datasets; never downloaded "
                        f"here); get it with `minari download {spec.minari_id}` (pip install minari), or use "
                        f"route='hdf5'")
    version, path = max(found)
    return f"{spec.minari_name}-v{version}", path / "data"


def _minari_observations(obs, spec: D4RLSpec, source: str) -> np.ndarray:
    if isinstance(obs, dict):  # AntMaze: torso x, y (achieved_goal) + qpos[2:15], qvel[:14] (observation)
        if "achieved_goal" not in obs or "observation" not in obs:
            raise DataError(f"{source}: observations lack 'achieved_goal'/'observation'; not an AntMaze dataset")
        return np.concatenate([obs["achieved_goal"], obs["observation"][:, :27]], axis=1).astype(np.float32)
    return np.asarray(obs, dtype=np.float32)


def load_minari_arrays(task_name: str, data_dir: Path | None = None) -> tuple[dict[str, np.ndarray], str, dict]:
    """Every step of every Minari episode as a transition, then the reference masks/ends/reward shift."""
    spec = d4rl_spec(task_name)
    root = minari_root(data_dir)
    dataset_id, path = find_minari_dataset(task_name, root)
    try:
        from minari import MinariDataset
    except ImportError:
        raise DataError(f"route 'minari' needs the minari package: pip install minari "
                        f"(or use route='hdf5' with the original D4RL file {spec.hdf5_file})") from None
    try:
        dataset = MinariDataset(path)
        parts = {k: [] for k in ("observations", "actions", "next_observations", "rewards", "terminals")}
        last = []
        for episode in dataset.iterate_episodes():
            obs = _minari_observations(episode.observations, spec, str(path))
            steps = len(episode.rewards)
            if steps == 0:
                continue
            if obs.shape[0] != steps + 1:
                raise DataError(f"{path}: episode {episode.id} has {obs.shape[0]} observations for {steps} steps "
                                f"(needs steps + 1); re-download it with `minari download {dataset_id}`")
            parts["observations"].append(obs[:-1])
            parts["next_observations"].append(obs[1:])
            parts["actions"].append(np.asarray(episode.actions, dtype=np.float32).reshape(steps, -1))
            parts["rewards"].append(np.asarray(episode.rewards, dtype=np.float32))
            parts["terminals"].append(np.asarray(episode.terminations).astype(bool))
            end = np.zeros(steps, dtype=bool)
            end[-1] = True
            last.append(end)
    except DataError:
        raise
    except (OSError, RuntimeError, ValueError, KeyError) as err:
        raise DataError(f"{path}: cannot read Minari dataset {dataset_id} ({_one_line(err)}); it is truncated or "
                        f"corrupt: delete it and run `minari download {dataset_id}`") from None
    if not last:
        raise DataError(f"{path}: Minari dataset {dataset_id} holds no step; re-download it")
    q = {k: np.concatenate(v) for k, v in parts.items()}
    for key, dim in (("observations", spec.obs_dim), ("actions", spec.action_dim)):
        if q[key].shape[1] != dim:
            raise DataError(f"{path}: {key} have {q[key].shape[1]} dimensions, {task_name} needs {dim}; "
                            f"{dataset_id} is not this task's dataset")
    arrays = reference_preprocess(q, spec.domain == "antmaze", extra_ends=np.concatenate(last))
    info = {"minari_dataset": dataset_id, "minari_version": _version("minari")}
    env_spec = getattr(dataset, "_eval_env_spec", None) or dataset.env_spec
    info["_eval_env_spec"] = env_spec
    return arrays, str(path), info


# ----------------------------------------------------------------------------------- environments

def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def _gymnasium_robotics():
    """Import gymnasium and register gymnasium-robotics' envs (its import-time notice is silenced)."""
    try:
        import gymnasium
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            import gymnasium_robotics
        gymnasium.register_envs(gymnasium_robotics)
    except ImportError as err:
        raise DataError(f"D4RL evaluation environments need gymnasium-robotics ({_one_line(err)}): "
                        "pip install gymnasium-robotics") from None
    return gymnasium


@functools.cache
def d4rl_ant_xml() -> str:
    """gymnasium's ant.xml patched to D4RL's ant: timestep 0.02, motors [-30, 30] gear 1, D4RL contacts."""
    from gymnasium.envs.mujoco import ant_v5

    tree = ET.parse(Path(ant_v5.__file__).parent / "assets" / "ant.xml")
    root = tree.getroot()
    root.find("option").set("timestep", "0.02")
    geom = root.find("default").find("geom")
    geom.set("solref", ".02 1")
    geom.set("solimp", ".8 .8 .01")
    for motor in root.find("actuator"):
        motor.set("ctrlrange", f"{-D4RL_ANT_ACTION_SCALE} {D4RL_ANT_ACTION_SCALE}")
        motor.attrib.pop("gear", None)
    fd, path = tempfile.mkstemp(prefix="drol-d4rl-ant-", suffix=".xml")
    with os.fdopen(fd, "wb") as f:
        tree.write(f)
    atexit.register(_remove_quietly, path)
    return path


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)


def _cell(layout: tuple[str, ...], mark: str) -> tuple[int, int]:
    return next((i, j) for i, row in enumerate(layout) for j, c in enumerate(row) if c == mark)


def gymnasium_maze_map(layout: tuple[str, ...]) -> list[list]:
    """D4RL's map with its rows reversed, in gymnasium-robotics' notation (1 wall, 0 free, 'r', 'g')."""
    code = {"#": 1, ".": 0, "r": "r", "g": "g"}
    return [[code[c] for c in row] for row in reversed(layout)]


class D4RLAntMaze:
    """Marker type; see `make_antmaze_env` (the class is built on first use, needing gymnasium)."""


@functools.cache
def _antmaze_wrapper_class():
    import gymnasium
    from gymnasium import spaces

    class _D4RLAntMaze(gymnasium.Wrapper, D4RLAntMaze):
        """An AntMaze with D4RL's 29-dim observation; with `layout`, D4RL's frame, resets, goal and radius.

        Without `layout` (the Minari route) the env keeps its own frame, start, goal and 0.45 radius.
        """

        def __init__(self, env, layout: tuple[str, ...] | None):
            super().__init__(env)
            self.maze_env = env.unwrapped
            self.ant = self.maze_env.ant_env
            self.layout = layout
            inner = env.action_space
            self._low, self._high = inner.low.astype(np.float64), inner.high.astype(np.float64)
            self.action_space = spaces.Box(-1.0, 1.0, inner.shape, np.float32)
            self.observation_space = spaces.Box(-np.inf, np.inf, (29,), np.float64)
            self.offset = np.zeros(2)
            self._rng = np.random.default_rng()
            if layout is not None:
                rows = len(layout)
                i_r, j_r = _cell(layout, "r")
                # D4RL's start cell is its origin: offset = D4RL xy - gymnasium xy, the same for every point.
                self.offset = -self.maze_env.maze.cell_rowcol_to_xy(np.array([rows - 1 - i_r, j_r]))
                self.start_cell, self.goal_cell = (i_r, j_r), _cell(layout, "g")

        def _obs(self) -> np.ndarray:
            qpos, qvel = self.ant.data.qpos.flat, self.ant.data.qvel.flat
            return np.concatenate([np.asarray(qpos[:2]) + self.offset, qpos[2:15], qvel[:14]])

        def d4rl_goal(self) -> np.ndarray:
            """The current goal in the frame of the observations."""
            return np.asarray(self.maze_env.goal) + self.offset

        def reset(self, *, seed=None, options=None):
            _, info = self.env.reset(seed=seed, options=options)
            if self.layout is None:
                return self._obs(), info
            if seed is not None:
                self._rng = np.random.default_rng(seed)
            rng, s = self._rng, MAZE_SCALING
            (i_r, j_r), (i_g, j_g) = self.start_cell, self.goal_cell
            # Goal: the goal cell's centre plus uniform(0, s/4) + uniform(0, 0.5) * s/4 per axis (D4RL).
            goal = np.array([(j_g - j_r) * s, (i_g - i_r) * s])
            goal = goal + rng.uniform(0, s * 0.25, 2) + rng.uniform(0, 0.5, 2) * 0.25 * s
            goal = np.maximum(goal, 0.0)
            self.maze_env.goal = goal - self.offset
            self.maze_env.update_target_site_pos()
            # Start: D4RL's init state (torso at the start cell) + uniform(-0.1, 0.1) qpos, 0.1 N(0,1) qvel noise.
            qpos = self.ant.init_qpos.copy()
            qpos[:2] = -self.offset
            qpos = qpos + rng.uniform(-0.1, 0.1, qpos.shape)
            qvel = self.ant.init_qvel + 0.1 * rng.standard_normal(self.ant.init_qvel.shape)
            self.ant.set_state(qpos, qvel)
            info = dict(info, success=False)
            return self._obs(), info

        def step(self, action):
            a = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
            scaled = np.clip(self._low + (a + 1.0) * 0.5 * (self._high - self._low), self._low, self._high)
            _, reward, terminated, truncated, info = self.env.step(scaled.astype(np.float32))
            obs = self._obs()
            if self.layout is not None:
                reached = bool(np.linalg.norm(obs[:2] - self.d4rl_goal()) <= D4RL_GOAL_RADIUS)
                reward, terminated = float(reached), reached
                info = dict(info, success=reached)
            return obs, float(reward), bool(terminated), bool(truncated), info

    return _D4RLAntMaze


class D4RLAdroit:
    """Marker type; see `make_adroit_env`."""


# Names of the simulator objects each adroit reward reads (the same in D4RL and gymnasium-robotics).
_ADROIT_NAMES = {
    "pen": {"body": ["Object"], "site": ["eps_ball", "object_top", "object_bottom", "target_top", "target_bottom"]},
    "door": {"joint": ["door_hinge"], "site": ["S_grasp", "S_handle"]},
    "hammer": {"body": ["Object"], "site": ["S_grasp", "tool", "S_target", "nail_goal"]},
    "relocate": {"body": ["Object"], "site": ["S_grasp", "target"]},
}


@functools.cache
def _adroit_wrapper_class():
    import gymnasium
    import mujoco

    kinds = {"body": mujoco.mjtObj.mjOBJ_BODY, "site": mujoco.mjtObj.mjOBJ_SITE, "joint": mujoco.mjtObj.mjOBJ_JOINT}

    class _D4RLAdroit(gymnasium.Wrapper, D4RLAdroit):
        """D4RL's adroit reward (dense + bonuses), pen's termination when the pen falls, goal_achieved."""

        def __init__(self, env, task: str):
            super().__init__(env)
            self.task = task
            model = env.unwrapped.model
            self.ids = {name: mujoco.mj_name2id(model, kinds[kind], name)
                        for kind, names in _ADROIT_NAMES[task].items() for name in names}
            self.pen_length = self.tar_length = 1.0

        def reset(self, *, seed=None, options=None):
            obs, info = self.env.reset(seed=seed, options=options)
            if self.task == "pen":
                d, i = self.env.unwrapped.data, self.ids
                self.pen_length = np.linalg.norm(d.site_xpos[i["object_top"]] - d.site_xpos[i["object_bottom"]])
                self.tar_length = np.linalg.norm(d.site_xpos[i["target_top"]] - d.site_xpos[i["target_bottom"]])
            return obs, info

        def step(self, action):
            obs, _, terminated, truncated, info = self.env.step(action)
            reward, done, achieved = getattr(self, f"_{self.task}")(self.env.unwrapped)
            info = dict(info, success=achieved, goal_achieved=achieved)
            return obs, float(reward), bool(terminated or done), bool(truncated), info

        def _pen(self, env):
            d, i = env.data, self.ids
            obj_pos = d.xpos[i["Object"]]
            dist = np.linalg.norm(obj_pos - d.site_xpos[i["eps_ball"]])
            obj_orien = (d.site_xpos[i["object_top"]] - d.site_xpos[i["object_bottom"]]) / self.pen_length
            tar_orien = (d.site_xpos[i["target_top"]] - d.site_xpos[i["target_bottom"]]) / self.tar_length
            similarity = float(np.dot(obj_orien, tar_orien))
            reward = -dist + similarity
            reward += 10.0 * (dist < 0.075 and similarity > 0.9) + 50.0 * (dist < 0.075 and similarity > 0.95)
            dropped = bool(obj_pos[2] < 0.075)
            reward -= 5.0 * dropped
            return reward, dropped, bool(dist < 0.075 and similarity > 0.95)

        def _door(self, env):
            d, m, i = env.data, env.model, self.ids
            door = float(d.qpos[m.jnt_dofadr[i["door_hinge"]]])
            reward = -0.1 * np.linalg.norm(d.site_xpos[i["S_grasp"]] - d.site_xpos[i["S_handle"]])
            reward += -0.1 * (door - 1.57) ** 2 - 1e-5 * float(np.sum(d.qvel ** 2))
            reward += 2.0 * (door > 0.2) + 8.0 * (door > 1.0) + 10.0 * (door > 1.35)
            return reward, False, door >= 1.35

        def _hammer(self, env):
            d, i = env.data, self.ids
            obj_pos, tool_pos = d.xpos[i["Object"]], d.site_xpos[i["tool"]]
            nail_goal = np.linalg.norm(d.site_xpos[i["S_target"]] - d.site_xpos[i["nail_goal"]])
            reward = -0.1 * np.linalg.norm(d.site_xpos[i["S_grasp"]] - obj_pos)
            reward -= np.linalg.norm(tool_pos - d.site_xpos[i["S_target"]]) + 10.0 * nail_goal
            reward -= 1e-2 * np.linalg.norm(d.qvel)
            reward += 2.0 * (obj_pos[2] > 0.04 and tool_pos[2] > 0.04)
            reward += 25.0 * (nail_goal < 0.02) + 75.0 * (nail_goal < 0.01)
            return reward, False, bool(nail_goal < 0.01)

        def _relocate(self, env):
            d, i = env.data, self.ids
            obj_pos, palm, target = d.xpos[i["Object"]], d.site_xpos[i["S_grasp"]], d.site_xpos[i["target"]]
            to_target = np.linalg.norm(obj_pos - target)
            reward = -0.1 * np.linalg.norm(palm - obj_pos)
            if obj_pos[2] > 0.04:
                reward += 1.0 - 0.5 * np.linalg.norm(palm - target) - 0.5 * to_target
            reward += 10.0 * (to_target < 0.1) + 20.0 * (to_target < 0.05)
            return reward, False, bool(to_target < 0.1)

    return _D4RLAdroit


def make_antmaze_env(task_name: str, ant_model: str = "d4rl"):
    """One AntMaze env in D4RL's form (see the module docstring): 29-dim observations, actions in [-1, 1]."""
    spec = d4rl_spec(task_name)
    gymnasium = _gymnasium_robotics()
    if ant_model not in ("d4rl", "gymnasium"):
        raise ValueError(f"ant_model must be 'd4rl' or 'gymnasium', not {ant_model!r}")
    layout = ANTMAZE_MAPS[spec.env]
    kwargs = {"maze_map": gymnasium_maze_map(layout), "continuing_task": False, "reset_target": False,
              "include_cfrc_ext_in_observation": False, "max_episode_steps": spec.episode_limit,
              "disable_env_checker": True}
    if ant_model == "d4rl":
        kwargs["xml_file"] = d4rl_ant_xml()
    return _antmaze_wrapper_class()(gymnasium.make(spec.gym_id, **kwargs), layout)


def make_adroit_env(task_name: str):
    """One AdroitHand*-v1 env with D4RL's reward, termination, success flag and episode limit."""
    spec = d4rl_spec(task_name)
    gymnasium = _gymnasium_robotics()
    env = gymnasium.make(spec.gym_id, max_episode_steps=spec.episode_limit, disable_env_checker=True)
    return _adroit_wrapper_class()(env, spec.env)


def make_minari_antmaze_env(task_name: str, env_spec):
    """The Minari dataset's own evaluation AntMaze (its frame, start, goal and ant), as 29-dim observations."""
    spec = d4rl_spec(task_name)
    gymnasium = _gymnasium_robotics()
    if env_spec is None:
        raise DataError(f"the Minari dataset of {task_name} records no environment; use route='hdf5'")
    kwargs = {"continuing_task": False, "reset_target": False}
    env = gymnasium.make(env_spec, max_episode_steps=spec.episode_limit, disable_env_checker=True, **kwargs)
    return _antmaze_wrapper_class()(env, None)


def make_d4rl_env(task_name: str, num_envs: int, route: str = "hdf5", ant_model: str = "d4rl",
                  minari_env_spec=None):
    """A `drol.evaluate.GymBatchedEnv` of `num_envs` D4RL-form environments of the task."""
    from drol.evaluate import GymBatchedEnv

    spec = d4rl_spec(task_name)
    if spec.domain == "adroit":
        envs = [make_adroit_env(task_name) for _ in range(num_envs)]
    elif route == "minari":
        envs = [make_minari_antmaze_env(task_name, minari_env_spec) for _ in range(num_envs)]
    else:
        envs = [make_antmaze_env(task_name, ant_model) for _ in range(num_envs)]
    return GymBatchedEnv(envs, success_key="success", max_episode_steps=spec.episode_limit)


# ------------------------------------------------------------------------------------- entry point

def load_d4rl_arrays(task_name: str, route: str = "hdf5",
                     data_dir: Path | None = None) -> tuple[dict[str, np.ndarray], str, dict]:
    """(arrays, source, info) of a route, validated against the task's spaces.

    arrays: observations, actions, next_observations, rewards, masks, terminals (the file's, after
    qlearning_dataset) and episode_ends. source: the file (or Minari data directory) read. info: what the
    Dataset records (route, source, counts; the Minari route adds the dataset id and, under
    "_eval_env_spec", the dataset's evaluation EnvSpec, which `load_d4rl` hands to the env factory).
    """
    spec = d4rl_spec(task_name)
    if route not in ROUTES:
        raise DataError(f"unknown D4RL route {route!r}; choose from {', '.join(ROUTES)}")
    info: dict = {}
    if route == "hdf5":
        arrays, source = load_hdf5_arrays(task_name, data_dir)
    elif route == "d4rl":
        arrays, source = load_d4rl_package_arrays(task_name)
    else:
        arrays, source, info = load_minari_arrays(task_name, data_dir)
    validate_transitions(arrays, spec.obs_dim, spec.action_dim, source=source)
    info = {"route": ROUTE_LABELS[route], "task": task_name, "source": source,
            "transitions": int(len(arrays["observations"])), "episodes": int(arrays["episode_ends"].sum()),
            "preprocessing": "d4rl.qlearning_dataset + FQL envs/d4rl_utils.py", **info}
    return arrays, source, info


def load_d4rl(task, device: torch.device | str = "cpu", route: str = "hdf5",
              data_dir: Path | None = None) -> TaskData:
    """A D4RL task's training data (val=None), its batched evaluation env factory and its scorer."""
    arrays, _, info = load_d4rl_arrays(task.name, route, data_dir)
    env_spec = info.pop("_eval_env_spec", None)
    info["env"] = "gymnasium-robotics " + str(_version("gymnasium-robotics") or "(not installed)")
    train = Dataset.from_arrays(arrays, device, info)
    return TaskData(train=train, val=None,
                    make_env=functools.partial(make_d4rl_env, task.name, route=route, minari_env_spec=env_spec),
                    route=ROUTE_LABELS[route], scorer=normalized_score_fn(task.name))


class D4RLSuite(Suite):
    """D4RL: files read on the settings' route (hdf5 by default), normalised return x 100, never regenerated."""

    name = "d4rl"
    scorer_name = "normalized_return"
    missing_data_fix = "put D4RL HDF5 files in data.d4rl_dir (or DROL_D4RL_DIR)"
    config_dir_key = "d4rl_dir"

    def default_data_dir(self) -> Path:
        return default_d4rl_dir()

    def dataset_paths(self, task, settings: DataSettings) -> list[Path]:
        # Only the hdf5 route reads known files; the d4rl package and Minari find their own.
        return [hdf5_path(task.name, self.data_dir(settings))] if settings.d4rl_route == "hdf5" else []

    def load(self, task, device, settings: DataSettings) -> TaskData:
        # No default directory here: each route has its own (Minari: $MINARI_DATASETS_PATH).
        data_dir = Path(settings.data_dir).expanduser() if settings.data_dir else None
        return load_d4rl(task, device, route=settings.d4rl_route, data_dir=data_dir)

    def scorer(self, task):
        return normalized_score_fn(task.name)

    def episode_limit(self, task) -> int:
        return episode_limit(task.name)

    def settings_from_config(self, data_config: dict) -> DataSettings:
        return DataSettings(data_dir=data_config.get(self.config_dir_key),
                            d4rl_route=data_config.get("d4rl_route", "hdf5"))

    def data_identity(self, settings: DataSettings) -> dict:
        return {"d4rl_route": settings.d4rl_route}
