"""Download the published OGBench and D4RL dataset files into the directories the loaders read (`drol fetch-data`).

Where files come from: each suite's `published_url` (OGBench: `ogbench.utils.DATASET_URL/<dataset>.npz` and
`-val.npz`, the URLs and layout of `ogbench.download_datasets`; D4RL: the HDF5 files under
`drol.data.d4rl.D4RL_URLS`), or from `<base URL>/<file name>` when a base URL is given (`--base-url` or
$DROL_DATA_URL: a mirror, or a local directory as file:///...). OGBench files are fetched here rather than
through `ogbench.download_datasets`, which restarts a broken download from byte 0 (its datasets reach several
GB) and verifies nothing; its URL is a module constant that only monkeypatching would point at a mirror.

Each file is written to `<file>.part` and renamed onto its name when complete, so the loaders never see a half
file; a rerun resumes the `.part` with an HTTP Range request (a server that ignores Range, or a file:// URL,
restarts it). Neither OGBench nor D4RL publishes checksums of its files, so none is checked by default: the
sha256 of each downloaded file is recorded beside it (`<file>.sha256`, `sha256sum -c` format), and a list in
that format (`--checksums`, e.g. `cat DIR/*.sha256` from a machine that has the data) is checked against both
new downloads and files already present.
"""

from __future__ import annotations

import http.client
import os
import re
import shlex
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from drol.data import SUITES, DataSettings, suite_of
from drol.errors import DataError, NoSpace, UnknownName
from drol.io import atomic_write, disk_full
from drol.tasks import Task, registry

BASE_URL_ENV = "DROL_DATA_URL"
# The `drol fetch-data` option naming each suite's directory.
DIR_OPTIONS = {"ogbench": "--data-dir", "d4rl": "--d4rl-dir"}
CHUNK_BYTES = 1 << 20
TIMEOUT_S = 60
_SHA256_LINE = re.compile(r"([0-9a-fA-F]{64}) [ *](.+)")


@dataclass(frozen=True)
class DataFile:
    """One published dataset file: where the loader reads it and where it is downloaded from."""

    target: str  # a task that reads it (what `drol fetch-data` is given to fetch it)
    suite: str
    path: Path
    url: str


def task_files(task: Task, settings: DataSettings, base_url: str | None = None) -> list[DataFile]:
    """The published files `task` reads under `settings` ([] for data generated in code or by `drol gen-data`,
    and for D4RL routes that find their own files)."""
    if settings.regenerated:
        return []
    suite = suite_of(task)
    files = []
    for path in suite.dataset_paths(task, settings):
        url = suite.published_url(task, path)
        if url is not None:
            url = f"{base_url.rstrip('/')}/{path.name}" if base_url else url
            files.append(DataFile(task.name, task.suite, path, url))
    return files


def resolve(targets: list[str], ogbench_dir: str | None = None, d4rl_dir: str | None = None,
            base_url: str | None = None) -> list[DataFile]:
    """The files of each target, each once, into `ogbench_dir`/`d4rl_dir` (default: where the loaders look). A
    target is a suite, a family, a task, an OGBench dataset (cube-single-play-v0) or one file's name
    (cube-single-play-v0-val.npz, pen-human-v1.hdf5). `base_url` defaults to $DROL_DATA_URL."""
    base_url = base_url or os.environ.get(BASE_URL_ENV) or None
    settings = {"ogbench": DataSettings(data_dir=ogbench_dir), "d4rl": DataSettings(data_dir=d4rl_dir)}
    by_task = {name: task_files(task, settings.get(task.suite, DataSettings()), base_url)
               for name, task in registry().items()}
    files: dict[Path, DataFile] = {}
    for target in targets:
        named = [file for of_task in by_task.values() for file in of_task if file.path.name == target]
        for file in named[:1] or [file for task in _target_tasks(target) for file in by_task[task.name]]:
            files.setdefault(file.path, file)
    return list(files.values())


def _target_tasks(target: str) -> list[Task]:
    from drol.data.ogbench import dataset_stem

    tasks = registry()
    families = {task.family for task in tasks.values()}
    if target in SUITES:
        return [task for task in tasks.values() if task.suite == target]
    if target in tasks:
        return [tasks[target]]
    if target in families:
        return [task for task in tasks.values() if task.family == target]
    stem = dataset_stem(target)  # an OGBench dataset or task variant: the tasks that read its file
    found = [task for task in tasks.values() if task.suite == "ogbench" and dataset_stem(task.name) == stem]
    if not found:
        raise UnknownName(f"unknown data target {target!r}: give a suite ({', '.join(SUITES)}), a family "
                          f"({', '.join(sorted(families))}), a task (`drol tasks`), an OGBench dataset "
                          "(e.g. cube-single-play-v0) or a dataset file's name")
    return found


def fetch_command(files: list[DataFile]) -> str:
    """One `drol fetch-data` command that downloads `files` where they are expected (a suite's name stands for
    its tasks when every file of the suite is among them)."""
    wanted = {file.path for file in files}
    targets, dirs = [], {}
    for suite in SUITES:
        of_suite = [file for file in files if file.suite == suite]
        if not of_suite:
            continue
        dirs[suite] = of_suite[0].path.parent
        settings = DataSettings(data_dir=str(dirs[suite]))
        whole = {f.path for task in registry().values() if task.suite == suite for f in task_files(task, settings)}
        targets += [suite] if whole <= wanted else list(dict.fromkeys(file.target for file in of_suite))
    words = ["drol", "fetch-data", *targets, *(w for suite, d in dirs.items() for w in (DIR_OPTIONS[suite], str(d)))]
    return shlex.join(words)


def read_checksums(path: Path) -> dict[str, str]:
    """File name -> sha256 from a `sha256sum`-format list ("<hex>  <name>" per line; names may carry a
    directory, which is ignored)."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as err:
        raise DataError(f"--checksums {path}: cannot read it ({err.strerror}); give a sha256sum-format file") from None
    sums = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        match = _SHA256_LINE.fullmatch(line.strip())
        if not match:
            raise DataError(f"{path}, line {number}: not '<sha256>  <file name>' (sha256sum's format); fix or "
                            "remove the line")
        sums[Path(match[2]).name] = match[1].lower()
    return sums


def sha256_record(path: Path) -> Path:
    """Where the sha256 of a downloaded file is recorded: `<file>.sha256`."""
    return path.with_name(path.name + ".sha256")


def fetch(file: DataFile, expected_sha256: str | None = None, progress: bool = True) -> str:
    """Download `file` unless present; check it against `expected_sha256` when given. Returns what happened:
    "present", "verified" (present, and its sha256 matches) or "downloaded"."""
    from drol.rundir import FileLock

    path = file.path
    if path.exists():
        if not expected_sha256:
            return "present"
        actual = _sha256(path)
        if actual != expected_sha256:
            raise DataError(f"{path}: sha256 {actual[:16]}... differs from the expected {expected_sha256[:16]}...; "
                            "the file is corrupt or another version: delete it and rerun `drol fetch-data`")
        return "verified"
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    with FileLock(path.with_name(f".{path.name}.lock"),
                  f"{path} is being downloaded by {{holder}}; wait for that download to end, then rerun"):
        if path.exists():  # another process finished it while this one waited for the lock
            return "present"
        _download(file, part, progress)
        sha256 = _sha256(part)
        if expected_sha256 and sha256 != expected_sha256:
            part.unlink()
            raise DataError(f"{path}: the sha256 of the download, {sha256[:16]}..., differs from the expected "
                            f"{expected_sha256[:16]}... (deleted); check the URL ({file.url}) and the --checksums "
                            "list, then rerun")
        os.replace(part, path)
        atomic_write(sha256_record(path), lambda tmp: Path(tmp).write_text(f"{sha256}  {path.name}\n"))
    return "downloaded"


def _sha256(path: Path) -> str:
    from drol.data.ogbench import file_sha256

    return file_sha256(path)


def _download(file: DataFile, part: Path, progress: bool) -> None:
    """Fill `part` with the file's bytes, resuming from what it holds (HTTP Range)."""
    from tqdm import tqdm

    name = file.path.name
    offset = part.stat().st_size if part.exists() else 0
    response = _open(file, offset)
    if response is None:  # the .part already holds the whole file (stopped before its rename)
        return
    with response:
        if offset and (response.status != 206 or _range_start(response) != offset):
            offset = 0  # the server sends the whole file (no Range support, or a file:// URL): start over
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length else None
        written = offset
        try:
            with open(part, "ab" if offset else "wb") as out, tqdm(
                    total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
                    disable=not progress) as bar:
                while chunk := response.read(CHUNK_BYTES):
                    out.write(chunk)
                    written += len(chunk)
                    bar.update(len(chunk))
        except (OSError, http.client.HTTPException) as err:  # IncompleteRead: the connection closed early
            if disk_full(err):
                raise NoSpace(f"no space left on {part.parent} while downloading {name} ({written} bytes in "
                              f"{part.name}); free space and rerun `drol fetch-data` to resume") from None
            raise DataError(f"{file.url}: the download of {name} broke off after {written} bytes "
                            f"({type(err).__name__}: {err}); rerun `drol fetch-data` to resume it") from None
    if total is not None and written != total:
        raise DataError(f"{file.url}: the download of {name} ended after {written} of {total} bytes; rerun "
                        "`drol fetch-data` to resume it")


def _open(file: DataFile, offset: int):
    """The response for the file's bytes from `offset` on (the whole file when the server ignores Range); None
    when the server says the file has exactly `offset` bytes."""
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        return urllib.request.urlopen(urllib.request.Request(file.url, headers=headers), timeout=TIMEOUT_S)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # nothing from `offset` on: the .part is complete, or longer than the file
            if err.headers.get("Content-Range") == f"bytes */{offset}":
                return None
            file.path.with_name(file.path.name + ".part").unlink()
            return _open(file, 0)
        raise DataError(f"{file.url}: HTTP {err.code} ({err.reason}) for {file.path.name}; check the URL (--base-url "
                        f"or ${BASE_URL_ENV} for a mirror) or download the file by hand into {file.path.parent}"
                        ) from None
    except (OSError, http.client.HTTPException) as err:  # URLError is an OSError
        reason = getattr(err, "reason", err)
        where = urlsplit(file.url).netloc or file.url
        raise DataError(f"cannot fetch {file.path.name} from {where} ({reason}); check the network (on a cluster, "
                        f"fetch on a login node), or use a mirror with --base-url or ${BASE_URL_ENV}") from None


def _range_start(response) -> int | None:
    """The first byte of a 206 response (Content-Range: bytes START-END/TOTAL)."""
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return int(match[1]) if match else None
