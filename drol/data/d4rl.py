"""D4RL tasks of the paper: 6 antmaze-v2 and 12 adroit-v1 datasets, their data routes and scores.

The evaluation environments (gymnasium-robotics wrapped to match D4RL, and every mismatch with D4RL
found) are in `drol.data.d4rl_envs`; `load_d4rl` hands their factory to training.

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

Episode limits
--------------
Episode limits follow D4RL's registrations, which FQL's evaluation (gym TimeLimit through shimmy) uses:
pen 100, door/hammer/relocate 200, antmaze-medium/large 1000, **antmaze-umaze and umaze-diverse 700**
(`episode_limit` here is D4RL's per task; OGBench's per-family limits are in ``drol.data.ogbench``).

Minari re-releases: where their data differ from the original D4RL v1/v2 files
------------------------------------------------------------------------------
- AntMaze (``D4RL/antmaze/*``): newly collected, not converted. Data come from gymnasium-robotics'
  AntMaze (gymnasium's ant: gear 150, dt 0.05 s; gymnasium-robotics' frame) driven by a new SAC
  goal-reaching policy following QIteration waypoints with 0.2 action noise, 1M steps, success radius
  0.45, continuing-task collection with goals in the gymnasium-robotics maps (the umaze map flipped to
  D4RL's orientation, medium/large not). Observations are dicts (converted here to
  [achieved_goal, observation[:27]], in gymnasium-robotics' frame); rewards are gymnasium-robotics'
  sparse reward. Its transitions and returns are therefore not D4RL's, and its evaluation environment is
  the dataset's own (its recorded ``eval_env_spec``, with gymnasium's ant, not `drol.data.d4rl_envs.D4RLAntMaze`).
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

import contextlib
import csv
import functools
import io
import os
import re
import shlex
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



def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None

def read_hdf5(path: Path, spec: D4RLSpec) -> dict[str, np.ndarray]:
    """The raw arrays D4RL's get_dataset returns (rewards/terminals/timeouts squeezed to (N,)), checked."""
    if not path.exists():
        raise DataError(f"{path}: D4RL file of {spec.name} not found (looked in {path.parent}: $DROL_D4RL_DIR, "
                        f"else $D4RL_DATASET_DIR, else ~/.d4rl/datasets; never downloaded here); download it "
                        f"from {spec.url} into that directory (`drol fetch-data {spec.name} --d4rl-dir "
                        f"{shlex.quote(str(path.parent))}`), or use route='minari'")
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
    from drol.data.d4rl_envs import make_d4rl_env  # the environment side, imported on use

    arrays, _, info = load_d4rl_arrays(task.name, route, data_dir)
    env_spec = info.pop("_eval_env_spec", None)
    info["env"] = "gymnasium-robotics " + str(_version("gymnasium-robotics") or "(not installed)")
    train = Dataset.from_arrays(arrays, device, info)
    return TaskData(train=train, val=None,
                    make_env=functools.partial(_eval_env, make_d4rl_env, task.name, route, env_spec),
                    route=ROUTE_LABELS[route], scorer=normalized_score_fn(task.name))


def _eval_env(make_d4rl_env, task_name: str, route: str, env_spec, num_envs: int, success_timing: str):
    """D4RL's environments count success after the step, the only timing the suite accepts (checked when
    the run is resolved)."""
    return make_d4rl_env(task_name, num_envs, route=route, minari_env_spec=env_spec)


class D4RLSuite(Suite):
    """D4RL: files read on the settings' route (hdf5 by default), normalised return x 100, never regenerated."""

    name = "d4rl"
    scorer_name = "normalized_return"
    config_dir_key = "d4rl_dir"

    def default_data_dir(self) -> Path:
        return default_d4rl_dir()

    def dataset_paths(self, task, settings: DataSettings) -> list[Path]:
        # Only the hdf5 route reads known files; the d4rl package and Minari find their own.
        return [hdf5_path(task.name, self.data_dir(settings))] if settings.d4rl_route == "hdf5" else []

    def published_url(self, task, path: Path) -> str:
        return d4rl_spec(task.name).url

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
