"""OGBench singletask datasets through OGBench's own loader, so rewards and masks are its relabelling.

The dataset of `cube-single-play-singletask-task1-v0` is the file `cube-single-play-v0.npz` (and its
`-val` file) in the data directory. Offline mode (the default) never downloads: a missing file stops the
run with a message naming the file, where OGBench hosts it, and the `drol gen-data` command when it can
be regenerated here.
"""

from __future__ import annotations

import json
import os
import re
import warnings
import zipfile
from dataclasses import replace
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from drol.data import (
    DataError,
    Dataset,
    DataSettings,
    Suite,
    TaskData,
    validate_transitions,
)
from drol.evaluate import GymBatchedEnv, success_score

if TYPE_CHECKING:
    import torch

# Keys OGBench's loader reads from a file (qpos etc. are needed by the singletask relabelling), and every
# key an OGBench dataset file may hold.
FILE_KEYS = ("observations", "actions", "terminals", "qpos")
KNOWN_KEYS = {*FILE_KEYS, "qvel", "button_states"}
# Episode limits of the environments, as OGBench registers them per family.
EPISODE_LIMITS = {
    "antmaze-large-navigate": 1000, "antmaze-giant-navigate": 1000, "humanoidmaze-medium-navigate": 2000,
    "humanoidmaze-large-navigate": 2000, "antsoccer-arena-navigate": 1000, "cube-single-play": 200,
    "cube-double-play": 500, "scene-play": 750, "puzzle-3x3-play": 500, "puzzle-4x4-play": 500,
}

_VERSION_TOKEN = re.compile(r"v\d+")
_TASK_TOKEN = re.compile(r"task\d+")


def split_name(task_or_family: str) -> tuple[str, str]:
    """(family, dataset file stem) of an OGBench task, dataset or family name, by OGBench's naming rules.

    `cube-single-play-singletask-task1-v0`, `cube-single-play-singletask-v0`, `cube-single-play-v0` and
    `cube-single-play` all give (`cube-single-play`, `cube-single-play-v0`). The name is not checked
    against OGBench's datasets (`drol.data.generate.dataset_name_for` does that).
    """
    tokens = task_or_family.strip().split("-")
    version = tokens[-1] if _VERSION_TOKEN.fullmatch(tokens[-1]) else "v0"
    if _VERSION_TOKEN.fullmatch(tokens[-1]):
        tokens = tokens[:-1]
    if "singletask" in tokens:
        # OGBench's loader drops 'singletask' and the task number: singletask tasks share their env's data.
        pos = tokens.index("singletask")
        tokens = tokens[:pos] + [t for t in tokens[pos + 1:] if not _TASK_TOKEN.fullmatch(t)]
    tokens = [t for t in tokens if t != "oraclerep"]
    family = "-".join(tokens)
    return family, f"{family}-{version}"


def dataset_stem(task_name: str) -> str:
    """`cube-single-play-singletask-task1-v0` -> `cube-single-play-v0` (OGBench's dataset file stem)."""
    return split_name(task_name)[1]


def default_data_dir() -> Path:
    """Where OGBench datasets live: $DROL_DATA_DIR, else OGBench's own default (~/.ogbench/data)."""
    return Path(os.environ.get("DROL_DATA_DIR", "~/.ogbench/data")).expanduser()


def dataset_paths(task_name: str, data_dir: Path) -> tuple[Path, Path]:
    stem = dataset_stem(task_name)
    return data_dir / f"{stem}.npz", data_dir / f"{stem}-val.npz"


def _quiet_ogbench():
    """Import ogbench with its display and float32-cast warnings silenced (state observations need no GL)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import ogbench
    return ogbench


def make_env(task_name: str):
    ogbench = _quiet_ogbench()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ogbench.make_env_and_datasets(task_name, env_only=True)


def missing_message(task_name: str, path: Path) -> str:
    from drol.data.generate import (
        regenerable,  # late: generation pulls in OGBench's oracles
    )

    _quiet_ogbench()
    from ogbench.utils import DATASET_URL

    fix = (f"regenerate it with `drol gen-data {task_name} --episodes N` or download it"
           if regenerable(task_name) else "download it (it cannot be regenerated here)")
    return (f"{path} not found (offline mode never downloads): {fix} from {DATASET_URL}/{path.name} "
            f"(e.g. ogbench.download_datasets(['{dataset_stem(task_name)}'], '{path.parent}')), "
            "or set DROL_DATA_DIR to the directory that holds it")


def check_file(path: Path) -> None:
    """Open and read every array once: a truncated or corrupt .npz, or a missing key, names the file."""
    try:
        with np.load(path) as file:
            missing = [k for k in FILE_KEYS if k not in file.files]
            if missing:
                raise DataError(f"{path}: missing key(s) {', '.join(missing)}; it is not an OGBench singletask "
                                "dataset: regenerate or re-download it")
            extra = sorted(set(file.files) - KNOWN_KEYS)
            if extra:
                raise DataError(f"{path}: unexpected key(s) {', '.join(extra)}; OGBench files hold "
                                f"{', '.join(sorted(KNOWN_KEYS))}: it is another kind of file, regenerate or "
                                "re-download it")
            for key in file.files:
                file[key]
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as err:
        raise DataError(f"{path} is truncated or corrupt ({type(err).__name__}); delete it and regenerate "
                        "or re-download it") from None


def load_ogbench(task, device: torch.device | str = "cpu", data_dir: Path | None = None,
                 offline: bool = True) -> TaskData:
    ogbench = _quiet_ogbench()
    data_dir = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    train_path, val_path = dataset_paths(task.name, data_dir)
    if offline:
        for path in (train_path, val_path):
            if not path.exists():
                raise DataError(missing_message(task.name, path))
            check_file(path)
        location = {"dataset_path": str(train_path)}
    else:
        location = {"dataset_dir": str(data_dir)}  # OGBench downloads what is missing
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env, train, val = ogbench.make_env_and_datasets(task.name, compact_dataset=False, **location)
        obs_dim, action_dim = env.observation_space.shape[0], env.action_space.shape[0]
        env.close()
    info = {"dataset_file": str(train_path), "ogbench": version("ogbench"), **read_sidecar(train_path)}
    datasets = []
    for arrays, path in ((train, train_path), (val, val_path)):
        validate_transitions(arrays, obs_dim, action_dim, source=str(path))
        datasets.append(Dataset.from_arrays(arrays, device, info))
    return TaskData(train=datasets[0], val=datasets[1],
                    make_env=lambda n: GymBatchedEnv([make_env(task.name) for _ in range(n)]),
                    route="ogbench-regenerated" if info.get("generator") else "ogbench", scorer=success_score)


def sidecar_path(npz_path: Path) -> Path:
    """The JSON written beside a regenerated file: `<file>.npz.json`."""
    npz_path = Path(npz_path)
    return npz_path.with_name(npz_path.name + ".json")


def read_sidecar(npz_path: Path) -> dict:
    """Generator settings and sha256 written beside a regenerated file ({} for downloaded files)."""
    sidecar = sidecar_path(npz_path)
    if not sidecar.exists():
        return {}
    try:
        meta = json.loads(sidecar.read_text())
    except (OSError, ValueError) as err:
        raise DataError(f"{sidecar}: cannot read the sidecar of a regenerated dataset ({type(err).__name__}); "
                        "regenerate the dataset with `drol gen-data` or delete the .json file") from None
    if not isinstance(meta, dict):
        raise DataError(f"{sidecar}: not a sidecar of a regenerated dataset (expected a JSON object); regenerate "
                        "the dataset with `drol gen-data` or delete the .json file")
    return meta


def regenerated_settings(npz_path: Path) -> dict | None:
    """{"episodes", "seed"} of a file `drol gen-data` wrote (from its sidecar); None for a downloaded or
    missing file."""
    meta = read_sidecar(npz_path) if Path(npz_path).exists() else {}
    if not meta:
        return None
    settings = meta.get("settings")
    try:
        return {"episodes": int(settings["episodes"]), "seed": int(settings["seed"])}
    except (TypeError, KeyError, ValueError):
        raise DataError(f"{sidecar_path(npz_path)}: lacks the generator's settings.episodes and settings.seed; "
                        "regenerate the dataset with `drol gen-data` or delete the .json file") from None


class OGBenchSuite(Suite):
    """OGBench singletask: .npz files (downloaded, or regenerated by `drol gen-data`), success x 100."""

    name = "ogbench"
    scorer_name = "success"
    missing_data_fix = ("Download OGBench datasets with ogbench.download_datasets([...], DIR) and set "
                        "data.ogbench_dir (or DROL_DATA_DIR)")
    config_dir_key = "ogbench_dir"

    def default_data_dir(self) -> Path:
        return default_data_dir()

    def dataset_paths(self, task, settings: DataSettings) -> list[Path]:
        return list(dataset_paths(task.name, self.data_dir(settings)))

    def regenerable(self, task) -> bool:
        from drol.data.generate import regenerable

        return regenerable(task.name)

    def load(self, task, device, settings: DataSettings) -> TaskData:
        return load_ogbench(task, device, self.data_dir(settings), settings.offline)

    def scorer(self, task):
        return success_score

    def episode_limit(self, task) -> int:
        return EPISODE_LIMITS[task.family]

    def complete_settings(self, task, settings: DataSettings) -> DataSettings:
        """`regenerated` read from the sidecar of the task's training file, when drol generated it."""
        if settings.regenerated is not None:
            return settings
        train_path = dataset_paths(task.name, self.data_dir(settings))[0]
        regenerated = regenerated_settings(train_path)
        return replace(settings, regenerated=regenerated) if regenerated else settings

    def data_identity(self, settings: DataSettings) -> dict:
        if not settings.regenerated:
            return {}
        return {"regenerated": {"episodes": int(settings.regenerated["episodes"]),
                                "seed": int(settings.regenerated["seed"])}}
