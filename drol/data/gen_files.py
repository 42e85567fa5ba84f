"""Writing regenerated OGBench datasets: whole, or as shards merged into OGBench's file layout.

`generate_dataset` writes `<stem>.npz` and `<stem>-val.npz` with a sidecar `<file>.json` each (sha256 of
the .npz bytes, generator settings, versions). A large dataset can be generated as `shards` parallel jobs
(`generate_shard`, one file per shard under `<data_dir>/shards/`) and merged (`merge_shards`): episode i is
seeded from (seed, i) alone (`drol.data.generate`), so the merged files are byte-identical to a whole
generation, whatever the number of shards. Every file appears atomically (temporary file, then rename).
"""

from __future__ import annotations

import json
import os
import secrets
import zipfile
from dataclasses import asdict
from pathlib import Path

import numpy as np

from drol.data import DataError
from drol.data.generate import VAL_FRACTION, collect, dataset_name_for, spec_for
from drol.data.ogbench import file_sha256, sidecar_path, split_name

# Fixed zip-entry timestamp (the earliest a zip can hold), so that equal arrays give equal bytes.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An .npz that np.load reads like np.savez_compressed's, with fixed zip metadata (same arrays, same bytes)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, array in arrays.items():
            entry = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_DATE)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.create_system = 3  # unix, whatever the platform
            entry.external_attr = 0o644 << 16
            with zf.open(entry, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.ascontiguousarray(array), allow_pickle=False)


def _versions() -> dict[str, str]:
    import zlib
    from importlib.metadata import version

    import mujoco

    import drol

    return {"drol": drol.__version__, "ogbench": version("ogbench"), "mujoco": mujoco.__version__,
            "gymnasium": version("gymnasium"), "numpy": np.__version__, "zlib": zlib.ZLIB_RUNTIME_VERSION}


def _check_writable(data_dir: Path) -> None:
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        probe = data_dir / f".drol-write-test-{os.getpid()}-{secrets.token_hex(4)}"
        probe.touch(exist_ok=False)
        probe.unlink()
    except OSError as err:
        raise DataError(f"data directory {data_dir} is not writable ({err.strerror or type(err).__name__}); "
                        "choose another with --data-dir or DROL_DATA_DIR, or fix its permissions") from None


def _checked(name: str, episodes, seed, episode_length, shards, shard=None):
    """(spec, stem, length) after checking every argument; DataError naming the bad one."""
    spec = spec_for(name)
    stem = dataset_name_for(name)
    for what, value, least in (("episodes", episodes, 1), ("seed", seed, 0), ("shards", shards, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise DataError(f"{stem}: {what} must be an integer >= {least}, got {value!r}")
    if episode_length is not None and (not isinstance(episode_length, int) or episode_length < 2):
        raise DataError(f"{stem}: episode_length must be an integer >= 2 (one transition needs two states), "
                        f"got {episode_length!r}")
    if shards > episodes:
        raise DataError(f"{stem}: {shards} shards for {episodes} episodes; use at most one shard per episode")
    if shard is not None and (isinstance(shard, bool) or not isinstance(shard, int) or not 0 <= shard < shards):
        raise DataError(f"{stem}: shard must be an integer in [0, {shards}), got {shard!r}")
    return spec, stem, episode_length or spec.episode_length


def _settings(spec, name: str, episodes: int, seed: int, length: int) -> dict:
    settings = {**asdict(spec), "family": split_name(name)[0], "released_episodes": spec.episodes,
                "episodes": episodes, "val_episodes": max(1, episodes // VAL_FRACTION), "seed": seed,
                "episode_length": length}
    if isinstance(spec.p_stack, tuple):
        settings["p_stack"] = list(spec.p_stack)
    return settings


class _AtomicFiles:
    """Temporary files renamed into place together at the end; none is left behind on error."""

    def __init__(self, what: str, where: Path):
        self.what, self.where, self.temps, self.moves = what, where, [], []

    def temp_for(self, path: Path) -> Path:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        self.temps.append(tmp)
        self.moves.append((tmp, path))
        return tmp

    def __enter__(self):
        return self

    def __exit__(self, kind, err, tb):
        try:
            if err is None:
                for tmp, path in self.moves:  # in the order written: data files before their sidecars
                    os.replace(tmp, path)
        except OSError as failure:
            err = failure
        finally:
            for tmp in self.temps:
                tmp.unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise DataError(f"writing {self.what} to {self.where} failed ({err.strerror or type(err).__name__}); "
                            "check free space and permissions, then run again") from None
        return False


def _write_with_sidecar(files: _AtomicFiles, path: Path, arrays: dict[str, np.ndarray], meta: dict) -> None:
    tmp = files.temp_for(path)
    write_npz(tmp, arrays)
    meta = {**meta, "file": path.name, "sha256": file_sha256(tmp), "bytes": tmp.stat().st_size}
    files.temp_for(sidecar_path(path)).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def _write_dataset(spec, name: str, stem: str, data_dir: Path, train: dict, val: dict, settings: dict,
                   versions: dict, shards: int) -> list[Path]:
    outputs = [(data_dir / f"{stem}.npz", train, "train", settings["episodes"]),
               (data_dir / f"{stem}-val.npz", val, "val", settings["val_episodes"])]
    with _AtomicFiles(stem, data_dir) as files:
        for path, arrays, split, n_episodes in outputs:
            _write_with_sidecar(files, path, arrays, {
                "dataset": stem, "split": split, "generator": "drol.data.generate", "oracle": spec.oracle,
                "episodes_in_file": n_episodes, "steps": int(len(arrays["terminals"])), "settings": settings,
                "versions": versions, "generated_in_shards": shards})
    return [path for path, *_ in outputs] + [sidecar_path(path) for path, *_ in outputs]


def generate_dataset(name: str, episodes: int, seed: int, data_dir: Path, progress: bool = True,
                     episode_length: int | None = None, shards: int = 1) -> list[Path]:
    """Regenerate an OGBench dataset with its scripted oracle and write it to `data_dir`.

    `name` is a task (`cube-single-play-singletask-task1-v0`), a dataset (`cube-single-play-v0`) or a family
    (`cube-single-play`). Writes `<stem>.npz` (`episodes` training episodes) and `<stem>-val.npz`
    (`max(1, episodes // 10)` episodes, OGBench's ratio), each with its sidecar. `episode_length` overrides
    OGBench's env steps per episode (for short test files). With `shards` > 1 the shards not yet on disk
    are generated one after the other, then merged and deleted. Returns the paths written: train .npz,
    val .npz, train .json, val .json.
    """
    spec, stem, length = _checked(name, episodes, seed, episode_length, shards)
    data_dir = Path(data_dir).expanduser()
    _check_writable(data_dir)
    if shards > 1:
        for shard in range(shards):
            if not _shard_ok(shard_path(data_dir, stem, episodes, seed, length, shard, shards)):
                generate_shard(name, episodes, seed, data_dir, shard, shards, progress, episode_length)
        paths = merge_shards(name, episodes, seed, data_dir, shards, episode_length)
        remove_shards(data_dir, stem, episodes, seed, length, shards)
        return paths
    train, val = collect(spec, episodes, seed, episode_length=length, progress=progress, desc=stem)
    return _write_dataset(spec, name, stem, data_dir, train, val, _settings(spec, name, episodes, seed, length),
                          _versions(), 1)


def shard_dir(data_dir: Path, stem: str, episodes: int, seed: int, length: int) -> Path:
    """Where the shards of one dataset setting live: `<data_dir>/shards/<stem>-e<episodes>-s<seed>-l<length>`."""
    return Path(data_dir) / "shards" / f"{stem}-e{episodes}-s{seed}-l{length}"


def shard_path(data_dir: Path, stem: str, episodes: int, seed: int, length: int, shard: int, shards: int) -> Path:
    return shard_dir(data_dir, stem, episodes, seed, length) / f"{shard}-of-{shards}.npz"


def _shard_ok(path: Path) -> bool:
    """A shard whose sidecar exists and whose size and sha256 match it (a shard is written atomically)."""
    side = sidecar_path(path)
    if not (path.exists() and side.exists()):
        return False
    meta = json.loads(side.read_text())
    return meta.get("bytes") == path.stat().st_size and meta.get("sha256") == file_sha256(path)


def generate_shard(name: str, episodes: int, seed: int, data_dir: Path, shard: int, shards: int,
                   progress: bool = True, episode_length: int | None = None) -> Path:
    """Generate shard `shard` of `shards` of a dataset (its training and validation episodes) into
    `shard_path(...)`, with a sidecar; deterministic from (seed, episode indices). Returns the shard path."""
    spec, stem, length = _checked(name, episodes, seed, episode_length, shards, shard)
    data_dir = Path(data_dir).expanduser()
    path = shard_path(data_dir, stem, episodes, seed, length, shard, shards)
    _check_writable(path.parent)
    train, val = collect(spec, episodes, seed, episode_length=length, progress=progress,
                         desc=f"{stem} shard {shard}/{shards}", shard=shard, shards=shards)
    arrays = {f"train.{k}": v for k, v in train.items()}
    arrays.update({f"val.{k}": v for k, v in (val or {}).items()})
    with _AtomicFiles(f"shard {shard} of {stem}", path.parent) as files:
        _write_with_sidecar(files, path, arrays, {
            "dataset": stem, "shard": shard, "shards": shards, "versions": _versions(),
            "settings": _settings(spec, name, episodes, seed, length)})
    return path


def merge_shards(name: str, episodes: int, seed: int, data_dir: Path, shards: int,
                 episode_length: int | None = None) -> list[Path]:
    """Merge the `shards` shards of a dataset, in order, into OGBench's two files (as `generate_dataset`
    writes them). Every shard must be complete and generated with the same versions; the shards stay."""
    spec, stem, length = _checked(name, episodes, seed, episode_length, shards)
    data_dir = Path(data_dir).expanduser()
    parts, versions = {"train": [], "val": []}, None
    for shard in range(shards):
        path = shard_path(data_dir, stem, episodes, seed, length, shard, shards)
        if not _shard_ok(path):
            raise DataError(f"{path}: shard {shard} of {shards} of {stem} is missing or incomplete; generate it with "
                            f"`drol gen-data {stem} --episodes {episodes} --seed {seed} --shards {shards} "
                            f"--shard {shard} --data-dir {data_dir}`")
        meta = json.loads(sidecar_path(path).read_text())
        if versions is not None and meta["versions"] != versions:
            raise DataError(f"{path}: generated with {meta['versions']}, shard 0 with {versions}; the merged bytes "
                            "would depend on it: regenerate every shard with one installation")
        versions = meta["versions"]
        with np.load(path) as file:
            for key in file.files:
                split, _, array = key.partition(".")
                if array == "observations":
                    parts[split].append({k.partition(".")[2]: file[k] for k in file.files if k.startswith(split + ".")})
    train, val = ({k: np.concatenate([p[k] for p in parts[split]]) for k in parts[split][0]}
                  for split in ("train", "val"))
    return _write_dataset(spec, name, stem, data_dir, train, val, _settings(spec, name, episodes, seed, length),
                          versions, shards)


def remove_shards(data_dir: Path, stem: str, episodes: int, seed: int, length: int, shards: int) -> None:
    """Delete a dataset setting's shard files (after merging), and its directories once empty."""
    folder = shard_dir(data_dir, stem, episodes, seed, length)
    for shard in range(shards):
        path = folder / f"{shard}-of-{shards}.npz"
        path.unlink(missing_ok=True)
        sidecar_path(path).unlink(missing_ok=True)
    for empty in (folder, folder.parent):
        try:
            empty.rmdir()
        except OSError:  # not empty: other settings' shards
            break
