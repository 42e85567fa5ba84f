"""`drol status [ROOT]`: where every run under a root stands, read from the run.json files while they train.

A trainer rewrites run.json at each log step and evaluation (step, last score, updates/s, ETA; see
drol.seedrun). A run whose run.json says `running` but whose trainer is gone (killed by the scheduler, OOM, a
crash) shows as `lost`: its lock file names no live holder. A plain rerun resumes it from `checkpoint_step`.
"""

from __future__ import annotations

import fnmatch
import json
import os
import socket
from datetime import timedelta
from pathlib import Path

import pandas as pd

from drol.rundir import LOCK_NAME, read_run_json

STATUSES = ("running", "lost", "interrupted", "finished", "diverged")
COLUMNS = ["task", "label", "labels", "K", "seed", "status", "step", "steps", "checkpoint_step", "score", "score_step",
           "updates_per_s", "eta", "updated_at", "run_dir"]


def trainer_alive(run_dir: Path) -> bool:
    """Whether the process named in the run's lock file still runs. A lock file is emptied when its holder
    exits; a killed holder leaves its pid and host. A holder on another host is taken to be alive."""
    try:
        holder = json.loads((run_dir / LOCK_NAME).read_text() or "{}")
    except (OSError, ValueError):
        return False
    if "pid" not in holder:
        return False
    if holder.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(holder["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _row(run_dir: Path, root: Path) -> dict:
    run = read_run_json(run_dir / "run.json")
    progress = run.get("progress") or {}
    status = run["status"]
    if status == "running" and not trainer_alive(run_dir):
        status = "lost"
    eta = progress.get("eta_s") if status == "running" else None
    return {"task": run.get("task"), "label": run.get("label"), "K": run.get("K"), "seed": run.get("seed"),
            "status": status, "step": run.get("step"), "steps": run.get("steps"),
            "checkpoint_step": run.get("checkpoint_step"), "score": progress.get("last_score"),
            "score_step": progress.get("last_eval_step"), "updates_per_s": progress.get("updates_per_s"),
            "eta": str(timedelta(seconds=int(eta))) if eta is not None else None,
            "updated_at": progress.get("updated_at"), "run_dir": os.path.relpath(run_dir, root),
            "labels": ",".join(run.get("labels") or []), "method": run.get("method")}


def run_status(root: Path, task: str | None = None, label: str | None = None, method: str | None = None,
               status: list[str] | None = None) -> pd.DataFrame:
    """One row per run directory under `root` (COLUMNS), filtered: `task` is a glob (cube-*), `label` matches the
    method label the run was resolved from or any label it stands for (run.json `labels`, e.g. K-sweep),
    `status` a list of STATUSES."""
    from drol.results.db import find_run_dirs

    root = Path(root)
    rows = [_row(d, root) for d in find_run_dirs([root])]
    keep = [r for r in rows
            if (task is None or fnmatch.fnmatchcase(r["task"] or "", task))
            and (label is None or label == r["label"] or label in r["labels"].split(","))
            and (method is None or method == r["method"])
            and (not status or r["status"] in status)]
    frame = pd.DataFrame(keep, columns=COLUMNS)
    frame = frame.astype({c: "Int64" for c in ("K", "seed", "step", "steps", "checkpoint_step", "score_step")})
    return frame.sort_values(["task", "label", "K", "seed"], kind="stable", ignore_index=True)


def format_status(frame: pd.DataFrame, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(frame.astype(object).where(frame.notna(), None).to_dict("records"), indent=2)
    if fmt == "csv":
        return frame.to_csv(index=False)
    if frame.empty:
        return "no run matches (or none has started yet)"
    # `labels` (what the run stands for: DROL(16), K-sweep, ...) says more than the label it was resolved from.
    shown = frame.drop(columns=["label", "steps", "score_step"]).rename(columns={"checkpoint_step": "ckpt"}).assign(
        step=[f"{s}/{n}" for s, n in zip(frame.step, frame.steps)],
        score=[f"{v:.1f} @{s}" if pd.notna(v) else "" for v, s in zip(frame.score, frame.score_step)],
        eta=frame.eta.fillna(""), updated_at=frame.updated_at.fillna(""),
        K=frame.K.astype(object).where(frame.K.notna(), ""), ckpt=frame.checkpoint_step.astype(object).where(
            frame.checkpoint_step.notna(), ""))
    counts = frame.status.value_counts()
    summary = ", ".join(f"{counts[s]} {s}" for s in STATUSES if s in counts)
    lost = " (lost: the trainer is gone; rerun to resume from the last checkpoint)" if "lost" in counts else ""
    table = shown.to_string(index=False, na_rep="", float_format="{:.2f}".format)
    return f"{table}\n{len(frame)} runs: {summary}{lost}"
