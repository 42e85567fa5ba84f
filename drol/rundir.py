"""A run directory's state on disk: one writer at a time, leftovers of kills, and when a run is really done.

- `RunLock` holds an exclusive lock (`.lock`) while `drol train` writes a directory (`FileLock` also
  guards the database build); a second writer (a
  rerun while an orphaned job still runs) stops with one line naming the holder.
- Temporary files of a killed writer (`.<name>.*.tmp`) are removed by the next writer.
- A run is finished only when run.json says so and its result files are all there and agree with it
  (`incomplete_results`); otherwise it is trained again (see `drol.train.Trainer._prepare`).
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import shutil
import socket
from pathlib import Path

from drol.errors import RunConflict, RunFileError

RESULT_FILES = ("evals.parquet", "train_metrics.parquet", "snapshots.parquet", "timing.json")
LOCK_NAME = ".lock"
# Which checkpoints a run keeps: the last (default; needed to rewrite results without training), every one, or
# none once the run has ended (a checkpoint always exists while it trains, for resume).
CHECKPOINT_RETENTION = ("final", "all", "none")


class FileLock:
    """Exclusive advisory lock (fcntl) on `path` for the life of a `with` block; the kernel releases it when
    the holder dies. `busy` is the error message when it is held, with `{holder}` for who holds it."""

    def __init__(self, path: Path, busy: str):
        self.path, self.busy = Path(path), busy
        self.fd: int | None = None

    def __enter__(self) -> FileLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise RunConflict(self.busy.format(holder=holder)) from None
        holder = {"pid": os.getpid(), "host": socket.gethostname(),
                  "since": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            os.close(self.fd)  # closing releases the lock
            self.fd = None


def RunLock(run_dir: Path) -> FileLock:  # noqa: N802  (used like a class: `with RunLock(dir):`)
    """The lock `drol train` holds on a run directory while it writes it."""
    return FileLock(Path(run_dir) / LOCK_NAME, f"{run_dir} is being trained by {{holder}}; wait for that process "
                                               "to end (or stop it), then rerun")


def _read_holder(fd: int) -> str:
    try:
        holder = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"pid {holder['pid']} on {holder['host']} (since {holder['since']})"
    except (ValueError, KeyError):
        return "another process"


def remove_stale_temporaries(run_dir: Path) -> list[Path]:
    """Temporary files a killed writer left (atomic writes that never got renamed); call under the lock."""
    stale = sorted(Path(run_dir).glob(".*.tmp"))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def read_run_json(path: Path) -> dict | None:
    """run.json as a dict, None when absent; a file that is not a JSON object names itself and the fix."""
    if not path.exists():
        return None
    try:
        value = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RunFileError(f"{path} is not valid JSON ({type(err).__name__}); delete the run directory "
                           f"{path.parent} to train it again") from None
    if not isinstance(value, dict) or not isinstance(value.get("status"), str):
        raise RunFileError(f"{path} is not a run.json written by drol train; delete the run directory "
                           f"{path.parent} to train it again")
    return value


def incomplete_results(run_dir: Path, run: dict) -> str | None:
    """Why an ended run's result files do not make a complete result (None when they do)."""
    import pandas as pd

    missing = [name for name in RESULT_FILES if not (run_dir / name).is_file()]
    if missing:
        return f"{', '.join(missing)} missing"
    try:
        steps = pd.read_parquet(run_dir / "evals.parquet", columns=["step"])["step"]
    except Exception as err:  # pyarrow raises several types for truncated or foreign files
        return f"evals.parquet unreadable ({type(err).__name__})"
    last = run.get("diverged_at_step") if run["status"] == "diverged" else run.get("steps")
    if run["status"] == "finished" and (steps.empty or int(steps.max()) != last):
        return f"evals.parquet ends at step {None if steps.empty else int(steps.max())}, run.json at {last}"
    return None


def block_manifest(out_dirs: list[Path], seeds: list[int]) -> Path | None:
    """The manifest path of a block whose directories are `<parent>/seed<N>` (the run-root layout)."""
    parents = {Path(d).parent for d in out_dirs}
    if len(parents) != 1 or any(Path(d).name != f"seed{s}" for d, s in zip(out_dirs, seeds)):
        return None
    return parents.pop() / f"seeds-{'_'.join(map(str, sorted(seeds)))}.json"


def remove_results(run_dir: Path) -> None:
    """The result files and what a previous training kept beside them (live records, kept checkpoints)."""
    for name in RESULT_FILES:
        (run_dir / name).unlink(missing_ok=True)
    for name in ("live", "checkpoints"):
        shutil.rmtree(Path(run_dir) / name, ignore_errors=True)


def load_checkpoint(path: Path, device) -> dict:
    """checkpoint.pt; a truncated or foreign file names itself and the fix."""
    import torch

    try:
        state = torch.load(path, map_location=device, weights_only=False)
    except Exception as err:  # torch raises RuntimeError, EOFError, UnpicklingError, ... for damaged files
        raise RunFileError(f"{path} is truncated or corrupt ({type(err).__name__}); delete it to train the run "
                           "from step 0") from None
    if not isinstance(state, dict) or "run_id" not in state or "step" not in state:
        raise RunFileError(f"{path} is not a drol checkpoint; delete it to train the run from step 0")
    return state
