"""Atomic file writes: a temporary file in the target's directory, then a rename onto the target."""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from drol.errors import NoSpace


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """`write(tmp_path)`, then rename onto `path`: readers never see a half-written file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide results from collaborators on a shared cluster
        write(tmp)
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if disk_full(err):
            raise NoSpace(f"no space left on {path.parent} while writing {path.name}; free space and rerun "
                          "(the previous file is intact)") from None
        raise


def disk_full(err: BaseException) -> bool:
    """ENOSPC, also as torch.save reports it (a RuntimeError from its zip writer)."""
    if isinstance(err, OSError):
        return err.errno in (errno.ENOSPC, errno.EDQUOT)
    text = str(err)
    return isinstance(err, RuntimeError) and ("file write failed" in text or "No space left" in text)


def write_json(path: Path, obj: dict) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n"))


def write_parquet(path: Path, frame: pd.DataFrame) -> None:
    atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))
