"""OGBench singletask datasets through OGBench's own loader, so rewards and masks are its relabelling.

The dataset of `cube-single-play-singletask-task1-v0` is the file `cube-single-play-v0.npz` (and its
`-val` file) in the data directory. Offline mode (the default) never downloads: a missing file stops the
run with a message naming the file, where OGBench hosts it, and the `drol gen-data` command when it can
be regenerated here.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shlex
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
from drol.evaluate import batched_env, success_score

if TYPE_CHECKING:
    import torch

# Keys OGBench's loader reads from a file (qpos etc. are needed by the singletask relabelling), and every
# key an OGBench dataset file may hold.
FILE_KEYS = ("observations", "actions", "terminals", "qpos")
KNOWN_KEYS = {*FILE_KEYS, "qvel", "button_states"}
# Every key of an OGBench file holds one row per environment step: terminals one flag, the others a vector.
STEP_NDIM = {"observations": 2, "actions": 2, "terminals": 1, "qpos": 2, "qvel": 2, "button_states": 2}
# dtype kinds a file may hold (bool, signed and unsigned integers, floats), and names of the others.
NUMERIC_KINDS = "biuf"
_KIND_NAMES = {"U": "text", "S": "bytes", "O": "Python objects", "V": "raw or structured records",
               "c": "complex numbers", "M": "dates", "m": "time spans"}
_FIX = "regenerate or re-download it"
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


def make_env(task_name: str, success_timing: str):
    """One singletask evaluation env; `success_timing` ('post' or 'pre', drol.data.SUCCESS_TIMINGS) says
    whether success, reward and termination are computed on the state after the step or before it."""
    ogbench = _quiet_ogbench()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ogbench.make_env_and_datasets(task_name, env_only=True, success_timing=success_timing)


def _batched_env(task_name: str, num_envs: int, success_timing: str, workers: int | None = None):
    return batched_env(functools.partial(make_env, task_name, success_timing), num_envs, workers)


def missing_message(task_name: str, path: Path) -> str:
    from drol.data.generate import (
        regenerable,  # late: generation pulls in OGBench's oracles
    )

    _quiet_ogbench()
    from ogbench.utils import DATASET_URL

    fix = (f"regenerate it with `drol gen-data {task_name} --episodes N` or download it"
           if regenerable(task_name) else "download it (it cannot be regenerated here)")
    return (f"{path} not found (offline mode never downloads): {fix} from {DATASET_URL}/{path.name} "
            f"(`drol fetch-data {dataset_stem(task_name)} --data-dir {shlex.quote(str(path.parent))}`), "
            "or set DROL_DATA_DIR to the directory that holds it")


def check_file(path: Path) -> None:
    """Check an OGBench file before OGBench's loader reads it, reading each array once.

    A truncated or corrupt .npz, a missing or unknown key, a key that does not hold numbers, keys whose row
    counts differ, a file without rows or transitions, or a NaN/inf in any float key: one DataError naming
    the file, the key and the fix.
    """
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
            _check_layout(path, {key: _array_header(path, file, key) for key in file.files})
            for key in file.files:
                _check_values(path, key, file[key])
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as err:
        raise DataError(f"{path} is truncated or corrupt ({type(err).__name__}); delete it and regenerate "
                        "or re-download it") from None


def _array_header(path: Path, file, key: str) -> tuple[np.dtype, tuple[int, ...]]:
    """dtype and shape of one array of an open .npz, from its .npy header (the data is not read)."""
    name = f"{key}.npy" if f"{key}.npy" in file.zip.namelist() else key
    with file.zip.open(name) as member:
        npy_version = np.lib.format.read_magic(member)
        if npy_version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(member)
        elif npy_version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(member)
        else:  # format 3.0 exists only for structured dtypes with non-latin-1 field names
            raise DataError(f"{path}: {key} is stored in npy format {npy_version}, which holds records, not "
                            f"numbers; {_FIX}")
    return dtype, tuple(shape)


def _check_layout(path: Path, headers: dict[str, tuple[np.dtype, tuple[int, ...]]]) -> None:
    """Numeric dtypes, one row per step in every key (the same row count everywhere) and at least one row."""
    for key, (dtype, shape) in headers.items():
        if dtype.kind not in NUMERIC_KINDS:
            raise DataError(f"{path}: {key} has dtype {dtype} ({_KIND_NAMES.get(dtype.kind, 'not numbers')}), "
                            f"OGBench files hold bool, integer or float arrays: the file was not written by OGBench or "
                            f"`drol gen-data`, {_FIX}")
        if len(shape) != STEP_NDIM[key]:
            want = "(steps,)" if STEP_NDIM[key] == 1 else "(steps, dim)"
            raise DataError(f"{path}: {key} has shape {shape}, OGBench files hold {want}: the file was not "
                            f"written by OGBench or `drol gen-data`, {_FIX}")
    rows = headers["observations"][1][0]
    if rows == 0:
        raise DataError(f"{path}: observations has 0 rows (shape {headers['observations'][1]}), the file holds "
                        f"no step; {_FIX}")
    uneven = [f"{key} has {shape[0]}" for key, (_, shape) in headers.items() if shape[0] != rows]
    if uneven:
        raise DataError(f"{path}: {', '.join(uneven)} rows but observations has {rows}; every key holds one "
                        f"row per environment step: the file is truncated or was edited, {_FIX}")


def _check_values(path: Path, key: str, array: np.ndarray) -> None:
    """Finite floats; terminals that end the file's last episode and leave at least one transition."""
    if array.dtype.kind == "f":
        finite = np.isfinite(array)
        if not finite.all():
            bad = finite.size - int(np.count_nonzero(finite))
            row = int(np.argmin(finite.reshape(len(finite), -1).all(axis=1)))
            raise DataError(f"{path}: {key} holds {bad} non-finite value(s) (NaN or inf), the first in row {row}; "
                            f"{_FIX}")
    if key == "terminals":
        ends = array != 0
        if not ends[-1]:
            raise DataError(f"{path}: terminals is 0 in the last row, so the file ends inside an episode: it is "
                            f"truncated, {_FIX}")
        if ends.all():
            raise DataError(f"{path}: terminals is 1 in every row, so every episode is a single state and the "
                            f"file holds no transition; {_FIX}")


def load_ogbench(task, device: torch.device | str = "cpu", data_dir: Path | None = None,
                 offline: bool = True) -> TaskData:
    ogbench = _quiet_ogbench()
    data_dir = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    train_path, val_path = dataset_paths(task.name, data_dir)
    if not offline:  # what is missing, through drol's resumable, atomic fetcher (`drol fetch-data`)
        from drol.data.fetch import BASE_URL_ENV, fetch, task_files

        for file in task_files(task, DataSettings(data_dir=str(data_dir)), os.environ.get(BASE_URL_ENV)):
            fetch(file)
    sidecars = []
    for path in (train_path, val_path):
        if not path.exists():
            raise DataError(missing_message(task.name, path))
        check_file(path)  # before OGBench's loader, which would crash or load garbage
        sidecars.append(verify_sidecar(path, task.name))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            env, train, val = ogbench.make_env_and_datasets(task.name, compact_dataset=False,
                                                            dataset_path=str(train_path))
        except (IndexError, ValueError) as err:  # e.g. qpos of another environment in the relabelling
            raise DataError(f"{train_path} or {val_path}: OGBench's loader failed on the arrays "
                            f"({type(err).__name__}: {_one_line(err)}); the files do not belong to {task.name}: "
                            f"{_FIX}") from None
        obs_dim, action_dim = env.observation_space.shape[0], env.action_space.shape[0]
        env.close()
    info = {"dataset_file": str(train_path), "ogbench": version("ogbench"), **sidecars[0]}
    datasets = []
    for arrays, path in ((train, train_path), (val, val_path)):
        validate_transitions(arrays, obs_dim, action_dim, source=str(path))
        datasets.append(Dataset.from_arrays(arrays, device, info))
    return TaskData(train=datasets[0], val=datasets[1],
                    make_env=functools.partial(_batched_env, task.name),
                    route="ogbench-regenerated" if info.get("generator") else "ogbench", scorer=success_score)


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split())[:200]


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


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes (what a sidecar records; about 0.5 s for a 270 MB, 1M-step file)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def verify_sidecar(npz_path: Path, task_name: str) -> dict:
    """The sidecar of a regenerated file, once its size and sha256 match the file's ({} without a sidecar).

    A mismatch means the .npz changed after `drol gen-data` wrote it (edited, truncated, or replaced by a
    download): the run would record a regenerated dataset it does not train on, so it is refused.
    """
    npz_path = Path(npz_path)
    meta = read_sidecar(npz_path)
    if not meta:
        return meta
    sidecar = sidecar_path(npz_path)
    settings = meta.get("settings") if isinstance(meta.get("settings"), dict) else {}
    episodes, seed = settings.get("episodes", "N"), settings.get("seed", 0)
    where = shlex.quote(str(npz_path.parent))
    regenerate = f"`drol gen-data {task_name} --episodes {episodes} --seed {seed} --data-dir {where}`"
    expected = meta.get("sha256")
    if not isinstance(expected, str):
        raise DataError(f"{sidecar}: no sha256 of {npz_path.name} in it; regenerate the dataset with {regenerate}, "
                        "or delete the .json file if the .npz is a downloaded file")
    size, actual_size = meta.get("bytes"), npz_path.stat().st_size
    if isinstance(size, int) and size != actual_size:  # no need to hash
        found = f"its size, {actual_size} bytes, differs from the {size} bytes"
    elif (actual := file_sha256(npz_path)) != expected:
        found = f"its sha256 {actual[:12]}... differs from the sha256 {expected[:12]}..."
    else:
        return meta
    raise DataError(f"{npz_path}: {found} recorded in {sidecar.name}, so the file was changed after `drol gen-data` "
                    f"wrote it: regenerate it with {regenerate}, or delete {sidecar} if the .npz is a downloaded file")


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
    config_dir_key = "ogbench_dir"
    success_timings = ("post", "pre")

    def default_data_dir(self) -> Path:
        return default_data_dir()

    def dataset_paths(self, task, settings: DataSettings) -> list[Path]:
        return list(dataset_paths(task.name, self.data_dir(settings)))

    def regenerable(self, task) -> bool:
        from drol.data.generate import regenerable

        return regenerable(task.name)

    def published_url(self, task, path: Path) -> str:
        """OGBench's own download location (what `ogbench.download_datasets` fetches)."""
        _quiet_ogbench()
        from ogbench.utils import DATASET_URL

        return f"{DATASET_URL}/{path.name}"

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
