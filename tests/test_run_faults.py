"""`drol train` under faults and bad input: every case ends in a state a plain rerun completes, or in one
line naming the thing and the fix (exit 2) with nothing written."""

import json
import os
import re
import shlex
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import torch

import drol.io
import drol.train
from drol.cli import main
from drol.config import RunSpec, parse_sets, resolve_run
from drol.rundir import RunLock
from drol.tasks import TOY_TASK
from drol.train import train

FAST = ["actor_hidden_dims=16,16", "value_hidden_dims=16,16", "steps=30", "eval_interval=15", "eval_episodes=20",
        "log_interval=10", "val_interval=10", "checkpoint_interval=10", "snapshot_states=2"]
RESULTS = ("evals.parquet", "train_metrics.parquet", "snapshots.parquet", "timing.json")


def cli_train(out, *extra):
    return main(["train", "--method", "drol", "--task", TOY_TASK, "--out", str(out), "--no-progress",
                 *sum([["--set", s] for s in FAST], []), *extra])


def one_line_error(capsys) -> str:
    """The error's one line; the run's progress lines (one per evaluation, before the fault) are not errors."""
    lines = [line for line in capsys.readouterr().err.strip().splitlines()
             if not re.match(r"drol \S+ seeds? [\d, ]+: step \d+/\d+, score ", line)]
    err = "\n".join(lines)
    assert len(lines) == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("extra, words", [
    (["--set", "num_candidates=0"], ["num_candidates=0", ">= 1"]),
    (["--set", "num_candidates=-3"], ["num_candidates=-3", ">= 1"]),
    (["--set", "batch_size=0"], ["batch_size=0", ">= 1"]),
    (["--set", "checkpoint_interval=0"], ["checkpoint_interval=0"]),
    (["--set", "log_interval=0"], ["log_interval=0"]),
    (["--set", "steps=0"], ["steps=0", ">= 1"]),
    (["--set", "steps=-5"], ["steps=-5"]),
    (["--set", "eval_episodes=0"], ["eval_episodes=0"]),
    (["--set", "discount=1.5"], ["discount=1.5", "<= 1"]),
    (["--seed", "-1"], ["seed -1", ">= 0"]),
    (["--threads", "-2"], ["--threads -2", ">= 1"]),
    (["--device", "tpu"], ["--device tpu", "cpu, cuda"]),
])
def test_bad_train_input_is_one_line_and_writes_nothing(tmp_path, capsys, extra, words):
    assert cli_train(tmp_path / "run", *extra) == 2
    err = one_line_error(capsys)
    assert all(w in err for w in words), err
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a torch without a usable GPU")
def test_cuda_device_on_a_cpu_torch_is_one_line(tmp_path, capsys):
    assert cli_train(tmp_path / "run", "--device", "cuda") == 2
    assert "use --device cpu" in one_line_error(capsys) and not (tmp_path / "run").exists()


def test_out_that_is_a_file_or_unwritable_is_one_line(tmp_path, capsys, monkeypatch):
    (tmp_path / "file").write_text("x")
    assert cli_train(tmp_path / "file") == 2
    assert "is a file" in one_line_error(capsys)
    assert cli_train(tmp_path / "file" / "run") == 2
    assert "is a file" in one_line_error(capsys)
    locked = tmp_path / "ro"
    locked.mkdir(mode=0o500)
    if os.geteuid() == 0:  # root writes anywhere: let the permission check see what a user would
        monkeypatch.setattr(drol.train.os, "access", lambda path, mode: Path(path) != locked)
    try:
        assert cli_train(locked / "run") == 2
        assert "not writable" in one_line_error(capsys)
    finally:
        locked.chmod(0o700)


def finished_run(tmp_path, name="run"):
    out = tmp_path / name
    assert cli_train(out) == 0
    return out


def test_deleted_results_of_a_finished_run_are_trained_again(tmp_path, capsys):
    """A forced rerun (Snakemake deletes the outputs first) retrains from step 0, to the same numbers."""
    out = finished_run(tmp_path)
    before = {name: (out / name).read_bytes() for name in ("evals.parquet", "train_metrics.parquet")}
    for name in RESULTS:
        (out / name).unlink()
    capsys.readouterr()
    assert cli_train(out) == 0
    assert "training again from step 0" in capsys.readouterr().err
    assert all((out / name).exists() for name in RESULTS)
    for name, content in before.items():
        pd.testing.assert_frame_equal(pd.read_parquet(out / name), pd.read_parquet(pd.io.common.BytesIO(content)))
    assert json.loads((out / "run.json").read_text())["status"] == "finished"


def test_results_that_disagree_with_run_json_are_not_taken_as_finished(tmp_path, capsys):
    out = finished_run(tmp_path)
    evals = pd.read_parquet(out / "evals.parquet")
    evals[evals.step < 30].to_parquet(out / "evals.parquet", index=False)  # as if cut at step 15
    capsys.readouterr()
    assert cli_train(out) == 0
    assert "ends at step 15, run.json at 30" in capsys.readouterr().err
    assert pd.read_parquet(out / "evals.parquet").step.max() == 30


def test_a_rerun_for_new_labels_rewrites_results_from_the_final_checkpoint(tmp_path, capsys, monkeypatch):
    """Snakemake reruns a job whose spec changed only in its labels (a study now includes it): no retraining."""
    out = finished_run(tmp_path)
    evals = pd.read_parquet(out / "evals.parquet")
    for name in RESULTS:
        (out / name).unlink()
    spec = RunSpec.from_dict(json.loads((out / "run.json").read_text())["spec"])
    relabelled = replace(spec, labels=(*spec.labels, "K-sweep"))
    monkeypatch.setattr("drol.train.Trainer._train_group", lambda self, runs, data: pytest.fail("retrained"))
    assert main(["train", "--spec", json.dumps(relabelled.to_dict()), "--out", str(out), "--no-progress"]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(out / "evals.parquet"), evals)
    assert json.loads((out / "run.json").read_text())["labels"] == ["DROL(16)", "K-sweep"]


def test_second_writer_is_refused_naming_the_holder(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    with RunLock(out):
        assert cli_train(out) == 2
        err = one_line_error(capsys)
    assert "is being trained by pid" in err and str(out) in err
    assert not (out / "run.json").exists()
    assert cli_train(out) == 0  # the lock is gone with its holder


def test_leftover_temporary_files_are_removed_by_the_next_run(tmp_path):
    out = finished_run(tmp_path)
    stale = [out / ".checkpoint.pt.k1ll3d.tmp", out / ".evals.parquet.x.tmp"]
    for path in stale:
        path.write_bytes(b"half")
    assert cli_train(out) == 0
    assert not any(path.exists() for path in stale)


def test_run_json_keeps_step_with_the_last_checkpoint_when_killed(tmp_path):
    """A kill between checkpoints (no signal handler runs) leaves run.json at the checkpoint's step."""
    spec = resolve_run("drol", TOY_TASK, 0, parse_sets(FAST, "drol"))

    def die(step):
        if step == 25:
            raise KeyboardInterrupt  # stands for SIGKILL: nothing after this point runs
        return False

    with pytest.raises(KeyboardInterrupt):
        train(spec, tmp_path, device="cpu", progress=False, should_stop=die)
    run = json.loads((tmp_path / "run.json").read_text())
    assert (run["status"], run["step"]) == ("running", 20)
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=False)["step"] == 20


@pytest.mark.parametrize("damage, words", [
    ("run.json", ["run.json is not valid JSON", "delete the run directory"]),
    ("checkpoint.pt", ["checkpoint.pt is truncated or corrupt", "delete it"]),
])
def test_damaged_run_files_are_one_line(tmp_path, capsys, damage, words):
    out = tmp_path / "run"
    assert train(resolve_run("drol", TOY_TASK, 0, parse_sets(FAST, "drol")), out, device="cpu", progress=False,
                 should_stop=lambda step: step == 20) == "interrupted"
    path = out / damage
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    assert cli_train(out) == 2
    err = one_line_error(capsys)
    assert all(w in err for w in words), err


def test_disk_full_while_checkpointing_names_the_directory_and_keeps_the_old_checkpoint(tmp_path, capsys,
                                                                                        monkeypatch):
    out = tmp_path / "run"
    spec = resolve_run("drol", TOY_TASK, 0, parse_sets(FAST, "drol"))
    assert train(spec, out, device="cpu", progress=False, should_stop=lambda step: step == 10) == "interrupted"
    good = (out / "checkpoint.pt").read_bytes()

    def full_disk(obj, path):  # torch.save's own message when the disk fills
        raise RuntimeError("[enforce fail at inline_container.cc:664] . PytorchStreamWriter failed writing file "
                           "data/3: file write failed")

    monkeypatch.setattr(drol.train.torch, "save", full_disk)
    capsys.readouterr()
    assert cli_train(out) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    # The resume, the evaluation at step 15, then the error.
    assert lines[0].endswith("resumed from step 10 (checkpoint.pt)") and "step 15/30, score" in lines[1]
    assert len(lines) == 3
    err = lines[-1]
    assert f"no space left on {out}" in err and "previous file is intact" in err
    assert (out / "checkpoint.pt").read_bytes() == good
    assert not list(out.glob(".*.tmp"))


def test_spec_with_a_quote_in_the_data_dir_survives_the_shell():
    from drol.data import DataSettings
    from drol.workflow import PlannedJob, PlannedRun

    spec = resolve_run("drol", TOY_TASK, 0, data=DataSettings(data_dir="/data/it's here/ünï"))
    (word,) = shlex.split(PlannedJob([PlannedRun(spec)]).spec_arg())
    assert [RunSpec.from_dict(value) for value in json.loads(word)] == [spec]


def test_atomic_write_reports_enospc_as_no_space(tmp_path):
    def write(tmp):
        raise OSError(28, "No space left on device")

    with pytest.raises(drol.io.NoSpace, match=f"no space left on {tmp_path}"):
        drol.io.atomic_write(tmp_path / "x.json", write)
    assert list(tmp_path.iterdir()) == []


# The database build
@pytest.fixture
def one_run(tmp_path):
    return finished_run(tmp_path, "runs/a")


def build(tmp_path, capsys, *extra):
    capsys.readouterr()
    return main(["build-db", str(tmp_path / "runs"), "--out", str(tmp_path / "results.duckdb"), *extra])


@pytest.mark.parametrize("damage, words", [
    (lambda run: {**run, "seed": "0"}, ["run.json: seed is '0', not an integer"]),
    (lambda run: {**run, "labels": "DROL(16)"}, ["`labels` must be a list of strings"]),
])
def test_build_db_names_a_run_json_with_wrong_types(tmp_path, capsys, one_run, damage, words):
    path = one_run / "run.json"
    path.write_text(json.dumps(damage(json.loads(path.read_text()))))
    assert build(tmp_path, capsys) == 2
    err = one_line_error(capsys)
    assert all(w in err for w in words) and str(path) in err, err
    assert not (tmp_path / "results.duckdb").exists()


def test_build_db_names_an_evals_file_with_string_scores(tmp_path, capsys, one_run):
    evals = pd.read_parquet(one_run / "evals.parquet")
    evals["score"] = evals["score"].astype(str)
    evals.to_parquet(one_run / "evals.parquet", index=False)
    assert build(tmp_path, capsys) == 2
    assert "evals.parquet: column score holds" in one_line_error(capsys)


def test_build_db_cleans_a_killed_build_and_refuses_a_concurrent_one(tmp_path, capsys, one_run):
    from drol.rundir import FileLock

    leftovers = [tmp_path / ".results.duckdb.k1ll.tmp", tmp_path / ".results.duckdb.k1ll.tmp.wal"]
    for path in leftovers:
        path.write_bytes(b"half a database")
    with FileLock(tmp_path / ".results.duckdb.lock", "{holder}"):
        assert build(tmp_path, capsys) == 2
        assert "is being built by pid" in one_line_error(capsys)
    assert build(tmp_path, capsys) == 0
    assert not any(path.exists() for path in leftovers) and (tmp_path / "results.duckdb").exists()


def test_build_db_disk_full_keeps_the_previous_database(tmp_path, capsys, one_run, monkeypatch):
    import duckdb

    import drol.results.db as db

    assert build(tmp_path, capsys) == 0
    previous = (tmp_path / "results.duckdb").read_bytes()

    def full(*args, **kwargs):
        raise duckdb.IOException("IO Error: Could not write file \"x.tmp\": No space left on device")

    monkeypatch.setattr(db, "_insert", full)
    assert build(tmp_path, capsys) == 2
    assert f"no space left on {tmp_path}" in one_line_error(capsys)
    assert (tmp_path / "results.duckdb").read_bytes() == previous
    assert not list(tmp_path.glob(".results.duckdb.*.tmp*"))
