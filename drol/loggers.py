"""Optional mirrors of a run's records in TensorBoard or Weights & Biases (`drol train --logger`).

drol's own files (live/ while training, the result parquet files after) stay the source of truth; a mirror
is for researchers who watch runs in those tools. Each is imported only when asked for: they are extras
(`pip install -e ".[tensorboard]"` or `".[wandb]"`). One mirror per seed of a block, in its run directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from drol.config import RunSpec

LOGGERS = ("tensorboard", "wandb")


class Mirror(Protocol):
    def log(self, step: int, values: dict[str, float]) -> None: ...

    def close(self) -> None: ...


class TensorBoardMirror:
    def __init__(self, out_dir: Path, resume_step: int):
        from torch.utils.tensorboard import SummaryWriter

        # purge_step drops what a killed run logged after its checkpoint: those steps are trained again.
        self.writer = SummaryWriter(log_dir=str(out_dir / "tensorboard"), purge_step=resume_step or None)

    def log(self, step: int, values: dict[str, float]) -> None:
        for name, value in values.items():
            self.writer.add_scalar(name, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class WandbMirror:
    def __init__(self, out_dir: Path, spec: RunSpec, run_id: str):
        import wandb

        # One W&B run per seed, resumed by id; the seeds of a configuration share a group.
        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", "drol"), id=run_id, resume="allow",
                              name=f"{spec.task}/{spec.label}/seed{spec.seed}", group=f"{spec.task}/{spec.label}",
                              config=spec.to_dict(), dir=str(out_dir), reinit="create_new")

    def log(self, step: int, values: dict[str, float]) -> None:
        self.run.log(values, step=step)

    def close(self) -> None:
        self.run.finish()


def open_mirror(kind: str, out_dir: Path, spec: RunSpec, run_id: str, resume_step: int) -> Mirror:
    """A mirror of `kind` (one of LOGGERS); one line naming the install when its package is missing."""
    if kind not in LOGGERS:
        raise ValueError(f"--logger {kind}: choose from {', '.join(LOGGERS)}")
    try:
        if kind == "tensorboard":
            return TensorBoardMirror(Path(out_dir), resume_step)
        return WandbMirror(Path(out_dir), spec, run_id)
    except ImportError as err:
        raise ValueError(f"--logger {kind} needs the {kind} package ({err.name or err} not importable); install it "
                         f'with pip install -e ".[{kind}]" or leave out --logger') from None
