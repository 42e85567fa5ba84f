"""OGBench singletask datasets through OGBench's own loader, so rewards and masks are its relabelling.

The dataset of `cube-single-play-singletask-task1-v0` is the file `cube-single-play-v0.npz` (and its
`-val` file) in the data directory. Offline mode (the default) never downloads: a missing file stops the
run with a message naming the file, where OGBench hosts it, and the `drol gen-data` command when it can
be regenerated here.
"""

from __future__ import annotations

import re
import warnings
import zipfile
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch

from drol.data import (
    DataError,
    Dataset,
    TaskData,
    default_data_dir,
    validate_transitions,
)
from drol.evaluate import GymBatchedEnv, success_score

# Keys OGBench's loader reads from a file (qpos etc. are needed by the singletask relabelling), and every
# key an OGBench dataset file may hold.
FILE_KEYS = ("observations", "actions", "terminals", "qpos")
KNOWN_KEYS = {*FILE_KEYS, "qvel", "button_states"}


def dataset_stem(task_name: str) -> str:
    """`cube-single-play-singletask-task1-v0` -> `cube-single-play-v0` (OGBench's dataset file stem)."""
    stem = re.sub(r"-singletask(-task\d+)?", "", task_name)
    return stem


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
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
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
    info = {"dataset_file": str(train_path), "ogbench": version("ogbench"), **_sidecar(train_path)}
    datasets = []
    for arrays, path in ((train, train_path), (val, val_path)):
        validate_transitions(arrays, obs_dim, action_dim, source=str(path))
        datasets.append(Dataset.from_arrays(arrays, device, info))
    return TaskData(train=datasets[0], val=datasets[1],
                    make_env=lambda n: GymBatchedEnv([make_env(task.name) for _ in range(n)]),
                    route="ogbench-regenerated" if info.get("generator") else "ogbench", scorer=success_score)


def _sidecar(path: Path) -> dict:
    """Generator settings and sha256 written beside a regenerated file (absent for downloaded files)."""
    import json

    sidecar = path.with_name(path.name + ".json")
    return json.loads(sidecar.read_text()) if sidecar.exists() else {}
