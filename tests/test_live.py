"""Live runs: run.json and live/ files while a run trains, `drol status`, checkpoint retention, metric mirrors
(TensorBoard, W&B) and git provenance."""

import json
import subprocess
import sys
import types
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from drol.cli import main
from drol.config import parse_sets, resolve_run
from drol.live import live_path, read_live
from drol.results.db import build_database
from drol.status import run_status
from drol.tasks import TOY_TASK
from drol.train import train

FAST = ["actor_hidden_dims=16,16", "value_hidden_dims=16,16", "steps=90", "eval_interval=30", "eval_episodes=4",
        "log_interval=20", "val_interval=1000", "checkpoint_interval=50", "snapshot_states=2"]


def fast_spec(seed=0, extra=()):
    return resolve_run("drol", TOY_TASK, seed, parse_sets(FAST + list(extra), "drol"))


def test_run_json_and_live_files_follow_the_run(tmp_path):
    seen = {}

    def look(step):  # called after each update; step 71 is no event: files are as step 70 left them
        if step == 71:
            seen["run"] = json.loads((tmp_path / "run.json").read_text())
            seen["evals"], seen["metrics"] = read_live(tmp_path, "evals"), read_live(tmp_path, "metrics")
        return step == 75

    assert train(fast_spec(), tmp_path, progress=False, should_stop=look) == "interrupted"
    run = seen["run"]
    assert run["status"] == "running" and run["step"] == 60 and run["checkpoint_step"] == 50
    progress = run["progress"]
    assert progress["last_eval_step"] == 60 and progress["updates_per_s"] > 0
    assert abs(progress["eta_s"] - (90 - 60) / progress["updates_per_s"]) <= 1
    assert sorted(seen["evals"].step.unique()) == [1, 30, 60] and len(seen["evals"]) == 3 * 4
    assert progress["last_score"] == seen["evals"][seen["evals"].step == 60].score.mean()
    assert sorted(seen["metrics"][seen["metrics"].name == "bc_loss"].step) == [1, 20, 40, 60]
    # Stopped at 75: the checkpoint is at 75, and the database holds what the run recorded so far.
    stopped = json.loads((tmp_path / "run.json").read_text())
    assert stopped["status"] == "interrupted" and stopped["step"] == stopped["checkpoint_step"] == 75
    build_database([tmp_path], tmp_path / "r.duckdb")
    with duckdb.connect(str(tmp_path / "r.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*), max(step) FROM evaluations").fetchone() == (12, 60)
        assert con.execute("SELECT status, step, checkpoint_step FROM runs").fetchone() == ("interrupted", 75, 75)
    # A kill after the checkpoint leaves records of steps that will be trained again: a resume drops them.
    with open(live_path(tmp_path, "metrics"), "a") as f:
        f.write("80,bc_loss,1.0\n")
    seen.clear()
    assert train(fast_spec(), tmp_path, progress=False, should_stop=lambda s: s == 76 and seen.update(
        metrics=read_live(tmp_path, "metrics")) and False) == "finished"
    assert 80 not in set(seen["metrics"].step) and seen["metrics"].step.max() == 60
    assert not (tmp_path / "live").exists()  # the result files hold every record now
    assert sorted(pd.read_parquet(tmp_path / "evals.parquet").step.unique()) == [1, 30, 60, 90]


def test_read_live_skips_a_line_cut_by_a_kill(tmp_path):
    path = live_path(tmp_path, "evals")
    path.parent.mkdir()
    path.write_text("step,episode,success,return,score,length\n1,0,True,1.5,100.0,1\n1,1,Fal")
    frame = read_live(tmp_path, "evals")
    assert len(frame) == 1 and frame.score.tolist() == [100.0] and bool(frame.success[0])


def _fake_run(root, task, seed, status, *, step=10, progress=None, holder=None, label="DROL(16)", labels=()):
    run_dir = root / task / label / f"seed{seed}"
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({
        "run_id": f"{task}-{seed}", "method": "drol", "label": label, "labels": list(labels), "K": 16, "task": task,
        "seed": seed, "status": status, "step": step, "steps": 100, "progress": progress or {}}))
    if holder is not None:
        (run_dir / ".lock").write_text(json.dumps(holder) if holder else "")
    return run_dir


def test_status_lists_filters_and_spots_lost_runs(tmp_path, capsys):
    import os
    import socket

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    live = {"last_score": 42.5, "last_eval_step": 40, "updates_per_s": 2.0, "eta_s": 3725, "updated_at": "t"}
    _fake_run(tmp_path, "cube-a", 0, "running", step=50, progress=live, holder={"pid": os.getpid(), "host": host})
    _fake_run(tmp_path, "cube-a", 1, "running", holder={"pid": dead.pid, "host": host})
    _fake_run(tmp_path, "cube-b", 0, "running", holder={})  # lock emptied by an exit that left run.json
    _fake_run(tmp_path, "pen", 0, "finished", step=100, label="FQL", labels=["k_sweep"])
    frame = run_status(tmp_path)
    assert frame[["task", "seed", "status"]].values.tolist() == [
        ["cube-a", 0, "running"], ["cube-a", 1, "lost"], ["cube-b", 0, "lost"], ["pen", 0, "finished"]]
    assert frame.eta[0] == "1:02:05" and frame.eta[1:].isna().all()
    assert run_status(tmp_path, task="cube-*", status=["lost"]).seed.tolist() == [1, 0]
    assert run_status(tmp_path, label="k_sweep").task.tolist() == ["pen"]
    assert main(["status", str(tmp_path), "--task", "cube-a"]) == 0
    out = capsys.readouterr().out
    assert "50/100" in out and "42.5 @40" in out and "2 runs: 1 running, 1 lost (lost:" in out
    assert main(["status", str(tmp_path), "--format", "json", "--status", "finished"]) == 0
    assert [(r["task"], r["step"], r["K"]) for r in json.loads(capsys.readouterr().out)] == [("pen", 100, 16)]
    assert main(["status", str(tmp_path), "--format", "csv"]) == 0
    assert len(pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))) == 4
    assert main(["status", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["status", "--status", "sleeping"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'sleeping'" in err and "lost" in err


@pytest.mark.parametrize("keep", ["final", "all", "none"])
def test_checkpoint_retention(tmp_path, keep):
    assert train(fast_spec(), tmp_path, progress=False, checkpoints=keep) == "finished"
    kept = sorted(p.name for p in (tmp_path / "checkpoints").glob("*.pt")) if keep == "all" else []
    assert kept == (["step-50.pt", "step-90.pt"] if keep == "all" else [])
    assert (tmp_path / "checkpoint.pt").exists() == (keep != "none")
    assert (tmp_path / "evals.parquet").exists()
    if keep == "all":  # each kept file is that step's checkpoint, not the last one
        import torch

        assert torch.load(tmp_path / "checkpoints" / "step-50.pt", weights_only=False)["step"] == 50


class _Recorder:
    def __init__(self):
        self.logged, self.closed = [], False

    def log(self, values, step):
        self.logged.append((step, dict(values)))

    def finish(self):
        self.closed = True


def test_wandb_and_tensorboard_mirror_the_records(tmp_path, monkeypatch):
    recorder, inits = _Recorder(), []
    wandb = types.SimpleNamespace(init=lambda **kw: inits.append(kw) or recorder)
    monkeypatch.setitem(sys.modules, "wandb", wandb)
    assert train(fast_spec(), tmp_path / "w", progress=False, logger="wandb") == "finished"
    assert inits[0]["id"] and inits[0]["config"]["task"] == TOY_TASK and recorder.closed
    metrics = pd.read_parquet(tmp_path / "w" / "train_metrics.parquet")
    mirrored = [(step, name) for step, values in recorder.logged for name in values if not name.startswith("eval/")]
    assert sorted(mirrored) == sorted(zip(metrics.step, metrics.name))
    evals = pd.read_parquet(tmp_path / "w" / "evals.parquet")
    scores = {step: v["eval/score"] for step, v in recorder.logged if "eval/score" in v}
    assert scores == evals.groupby("step").score.mean().to_dict()

    scalars = []

    class Writer:
        def __init__(self, log_dir, purge_step):
            assert Path(log_dir) == tmp_path / "t" / "tensorboard" and purge_step is None

        def add_scalar(self, name, value, step):
            scalars.append((step, name))

        def flush(self):
            pass

        def close(self):
            pass

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", types.SimpleNamespace(SummaryWriter=Writer))
    assert train(fast_spec(), tmp_path / "t", progress=False, logger="tensorboard") == "finished"
    assert sorted(s for s in scalars if not s[1].startswith("eval/")) == sorted(mirrored)


def test_a_missing_logger_package_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb raises ImportError
    code = main(["train", "--method", "drol", "--task", TOY_TASK, "--out", str(tmp_path), "--logger", "wandb",
                 "--no-progress", *[a for s in FAST for a in ("--set", s)]])
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("drol train: error")]
    assert code == 2 and len(err) == 1 and 'pip install -e ".[wandb]"' in err[0]


def test_run_json_records_the_source_commit(tmp_path):
    repo = Path(__file__).resolve().parents[1]
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip("not a git checkout: the commit is recorded as null")
    dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip() != ""
    assert train(fast_spec(extra=["steps=2"]), tmp_path, progress=False) == "finished"
    assert json.loads((tmp_path / "run.json").read_text())["git"] == {"commit": head.stdout.strip(), "dirty": dirty}
    build_database([tmp_path], tmp_path / "r.duckdb")
    with duckdb.connect(str(tmp_path / "r.duckdb"), read_only=True) as con:
        assert con.execute("SELECT git_commit, git_dirty FROM runs").fetchone() == (head.stdout.strip(), dirty)


def test_the_workflow_sets_checkpoint_retention_through_the_environment(monkeypatch):
    from drol.cli import build_parser

    monkeypatch.setenv("DROL_CHECKPOINTS", "none")  # as the Snakefile sets it from config `checkpoints`
    assert build_parser().parse_args(["train"]).checkpoints == "none"
    monkeypatch.delenv("DROL_CHECKPOINTS")
    assert build_parser().parse_args(["train"]).checkpoints == "final"
