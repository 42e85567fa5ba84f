"""Which device a training process uses, and which GPU when several jobs share a machine.

`--device auto` (CUDA when available) or `--device cuda` on a machine with several visible GPUs claims the
first GPU no other drol process on this host holds: an exclusive kernel lock on `<lock dir>/cuda<N>.lock`,
held for the life of the process and released by the kernel when it ends (also when it is killed). So
Snakemake's local jobs (`--resources gpu=N`, see profiles/gpu) land on different GPUs; under SLURM each
job sees only its own GPU and takes cuda:0. `--device cuda:N` uses GPU N and claims nothing.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import torch

from drol.errors import RunConflict
from drol.rundir import FileLock

_claimed: list[FileLock] = []  # held until the process exits
CLAIM_POLL_SECONDS = 5.0


def gpu_lock_dir() -> Path:
    return Path(os.environ.get("DROL_GPU_LOCK_DIR") or Path(tempfile.gettempdir()) / f"drol-gpus-{os.getuid()}")


def claim_gpu(count: int, lock_dir: Path | None = None, wait: bool = True) -> int:
    """Index of a GPU (0..count-1) no other drol process holds, now held by this one; waits for one to free
    up when all are held (`wait=False`: raise RunConflict instead)."""
    lock_dir = lock_dir or gpu_lock_dir()
    lock_dir.mkdir(parents=True, exist_ok=True)
    announced = False
    while True:
        for index in range(count):
            lock = FileLock(lock_dir / f"cuda{index}.lock", f"cuda:{index} is held by {{holder}}")
            try:
                lock.__enter__()
            except RunConflict:
                continue
            _claimed.append(lock)
            return index
        if not wait:
            raise RunConflict(f"all {count} GPUs are held by other drol processes (locks in {lock_dir})")
        if not announced:
            print(f"all {count} GPUs are busy with other drol jobs; waiting for one", file=sys.stderr)
            announced = True
        time.sleep(CLAIM_POLL_SECONDS)


def resolve_device(device: str | None) -> torch.device:
    """auto (CUDA when available), cpu, cuda or cuda:N; anything else, or CUDA this torch lacks, is one line."""
    if device in (None, "auto"):
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        parsed = None
    if parsed is None or parsed.type not in ("cpu", "cuda"):
        raise ValueError(f"--device {device}: choose auto, cpu, cuda or cuda:N")
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            build = "a CPU build" if torch.version.cuda is None else f"CUDA {torch.version.cuda}, but no GPU is visible"
            raise ValueError(f"--device {device}: this torch ({torch.__version__}) is {build}; use --device cpu")
        count = torch.cuda.device_count()
        if parsed.index is not None and parsed.index >= count:
            raise ValueError(f"--device {device}: only {count} GPU(s) visible; choose cuda:0 to cuda:{count - 1}")
        if parsed.index is None:
            parsed = torch.device("cuda", claim_gpu(count) if count > 1 else 0)
    return parsed
