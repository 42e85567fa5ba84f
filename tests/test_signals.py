import json
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch

from drol.tasks import TOY_TASK

SETS = ["actor_hidden_dims=64,64", "value_hidden_dims=64,64", "steps=600", "eval_interval=200", "eval_episodes=20",
        "log_interval=50", "val_interval=100", "checkpoint_interval=100000"]


def drol_train(out):
    cmd = [sys.executable, "-m", "drol.cli", "train", "--method", "drol", "--task", TOY_TASK, "--out", str(out),
           "--no-progress"]
    return cmd + sum([["--set", s] for s in SETS], [])


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_checkpoints_and_resume_matches_uninterrupted(tmp_path, signum):
    subprocess.run(drol_train(tmp_path / "full"), check=True, capture_output=True)
    proc = subprocess.Popen(drol_train(tmp_path / "split"), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    run_json = tmp_path / "split" / "run.json"
    while not run_json.exists():  # written when training starts
        time.sleep(0.05)
    time.sleep(1.0)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err  # reported like a killed process, so a scheduler retries it
    state = json.loads(run_json.read_text())
    assert state["status"] == "interrupted" and 0 < state["step"] < 600
    assert b"Traceback" not in err
    subprocess.run(drol_train(tmp_path / "split"), check=True, capture_output=True)
    full = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=False)
    split = torch.load(tmp_path / "split" / "checkpoint.pt", weights_only=False)
    assert all(torch.equal(full["agent"][k], split["agent"][k]) for k in full["agent"])
    for name in ("train_metrics", "evals"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "full" / f"{name}.parquet"),
                                      pd.read_parquet(tmp_path / "split" / f"{name}.parquet"))
