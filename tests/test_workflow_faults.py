"""Faults on a tiny toy workflow: Snakemake itself killed (by PID or with its whole process group, by SIGINT,
SIGTERM or SIGKILL) while training jobs run, a forced rerun, `drol train` killed in a checkpoint write.
Every case ends with a plain `snakemake` that completes and a database equal to an uninterrupted run's."""

import copy
import os
import signal
import subprocess
import sys
import time

import pytest
from test_workflow import SNAKEMAKE, TOY, _database_content, copy_workflow, job_env

pytestmark = pytest.mark.slow

CONFIG = copy.deepcopy(TOY)
CONFIG.pop("k_sweep")  # two training jobs: DROL(16) and FQL
CONFIG["training"].update(steps=1500, checkpoint_interval=50, eval_interval=500, log_interval=100, val_interval=500)
TARGET = "results.duckdb"  # the database, not the figures: what the faults can break


def run_workflow(workdir, *args, timeout=900):
    return subprocess.run(SNAKEMAKE + ["--configfile", "config.yaml", "--cores", "2", TARGET, *args], cwd=workdir,
                          capture_output=True, text=True, timeout=timeout, env=job_env())


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    workdir = copy_workflow(tmp_path_factory.mktemp("whole"))
    (workdir / "config.yaml").write_text(__import__("yaml").safe_dump(CONFIG))
    result = run_workflow(workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


def new_workdir(tmp_path):
    workdir = copy_workflow(tmp_path)
    (workdir / "config.yaml").write_text(__import__("yaml").safe_dump(CONFIG))
    return workdir


def session_trainers(sid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-s", str(sid), "-f", "drol train"], capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split()]


def wait_for(condition, timeout=300, what="condition"):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM", "SIGKILL"])
@pytest.mark.parametrize("target", ["pid", "group"])
def test_killed_snakemake_then_plain_rerun_gives_the_same_database(tmp_path, uninterrupted, signame, target):
    workdir = new_workdir(tmp_path)
    proc = subprocess.Popen(SNAKEMAKE + ["--configfile", "config.yaml", "--cores", "2", TARGET], cwd=workdir,
                            env=job_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    wait_for(lambda: list((workdir / "results/runs").rglob("checkpoint.pt")), what="a first checkpoint")
    sig = getattr(signal, signame)
    if target == "pid":
        os.kill(proc.pid, sig)  # Snakemake alone: its jobs may run on as orphans
    else:
        os.killpg(proc.pid, sig)
    proc.wait(timeout=300)
    orphans = session_trainers(proc.pid)
    if orphans and signame == "SIGKILL":
        # A rerun while an orphaned job still writes its run directory must not start a second writer.
        rerun = run_workflow(workdir)
        logs = "".join(p.read_text() for p in (workdir / "logs/train").rglob("*.log"))
        assert rerun.returncode != 0 and "is being trained by pid" in logs, rerun.stderr[-2000:]
    wait_for(lambda: not session_trainers(proc.pid), what="orphaned training jobs to end")
    result = run_workflow(workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert _database_content(workdir / TARGET) == _database_content(uninterrupted / TARGET)
    again = run_workflow(workdir)
    assert "Nothing to be done" in again.stdout + again.stderr


def test_forced_rerun_retrains_and_the_next_run_does_nothing(tmp_path, uninterrupted):
    workdir = new_workdir(tmp_path)
    assert run_workflow(workdir).returncode == 0
    forced = run_workflow(workdir, "--forcerun", "train")
    assert forced.returncode == 0, forced.stderr[-3000:]
    logs = "".join(p.read_text() for p in (workdir / "logs/train").rglob("*.log"))
    assert logs.count("training again from step 0") == 2
    again = run_workflow(workdir)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr
    assert _database_content(workdir / TARGET) == _database_content(uninterrupted / TARGET)


def test_drol_train_killed_during_a_checkpoint_write_resumes_bit_identical(tmp_path):
    """SIGKILL while checkpoint.pt is being written (its temporary file exists): the rerun removes the
    leftover, resumes from the previous checkpoint and ends equal to an uninterrupted run."""
    import pandas as pd
    import torch

    sets = ["steps=60", "checkpoint_interval=10", "eval_interval=30", "eval_episodes=20", "log_interval=10",
            "val_interval=30"]  # the toy's 3 x 128 networks: checkpoints of a few MB

    def command(out):
        return [sys.executable, "-m", "drol.cli", "train", "--method", "drol", "--task", "toy-bandit-v0",
                "--out", str(out), "--no-progress", "--threads", "1", *sum([["--set", s] for s in sets], [])]

    subprocess.run(command(tmp_path / "whole"), check=True, capture_output=True, env=job_env())
    out = tmp_path / "killed"
    for _ in range(20):  # the write is short: try until the kill lands inside it
        proc = subprocess.Popen(command(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=job_env())
        while proc.poll() is None and not list(out.glob(".checkpoint.pt.*.tmp")):
            time.sleep(0.0005)
        proc.kill()
        proc.wait()
        if list(out.glob(".checkpoint.pt.*.tmp")):
            break
    else:
        pytest.skip("no kill landed inside a checkpoint write in 20 tries")
    subprocess.run(command(out), check=True, capture_output=True, env=job_env())
    assert not list(out.glob(".*.tmp"))
    whole = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=False)
    resumed = torch.load(out / "checkpoint.pt", weights_only=False)
    assert all(torch.equal(whole["agent"][k], resumed["agent"][k]) for k in whole["agent"])
    for name in ("evals", "train_metrics"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "whole" / f"{name}.parquet"),
                                      pd.read_parquet(out / f"{name}.parquet"))
