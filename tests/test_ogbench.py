"""OGBench loading on small files the tests make (the layout of OGBench's .npz files)."""

import json
import warnings

import numpy as np
import pytest

from drol.cli import main
from drol.tasks import get_task

ogbench = pytest.importorskip("ogbench")
from drol.data.ogbench import dataset_paths, dataset_stem, load_ogbench  # noqa: E402

TASK = "cube-single-play-singletask-task1-v0"


def write_cube_file(path, episodes=2, length=11, seed=0, **replace):
    """An OGBench-layout file: terminals mark each trajectory's last state; qpos/qvel for relabelling."""
    rng = np.random.default_rng(seed)
    n = episodes * length
    terminals = np.zeros(n, np.float32)
    terminals[length - 1::length] = 1
    arrays = {"observations": rng.normal(size=(n, 28)).astype(np.float32),
              "actions": rng.uniform(-1, 1, (n, 5)).astype(np.float32), "terminals": terminals,
              "qpos": rng.normal(size=(n, 21)).astype(np.float32), "qvel": rng.normal(size=(n, 20)).astype(np.float32)}
    arrays.update(replace)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})


@pytest.fixture
def data_dir(tmp_path):
    train, val = dataset_paths(TASK, tmp_path)
    write_cube_file(train, episodes=3)
    write_cube_file(val, episodes=1, seed=1)
    return tmp_path


def test_dataset_stem_drops_singletask_and_task_number():
    assert dataset_stem(TASK) == "cube-single-play-v0"
    assert dataset_stem("puzzle-4x4-play-singletask-task5-v0") == "puzzle-4x4-play-v0"


def test_loads_through_ogbench_with_its_rewards_and_masks(data_dir):
    data = load_ogbench(get_task(TASK), data_dir=data_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, train, val = ogbench.make_env_and_datasets(TASK, dataset_path=str(dataset_paths(TASK, data_dir)[0]))
    # Each trajectory of 11 states gives 10 transitions.
    assert len(data.train) == 30 and len(data.val) == 10
    for key in ("observations", "rewards", "masks", "next_observations"):
        assert np.array_equal(data.train.tensors[key].numpy(), train[key].astype(np.float32)), key
    assert np.array_equal(data.val.tensors["rewards"].numpy(), val["rewards"])
    assert data.train.tensors["actions"].abs().max() <= 1 - 1e-5
    assert data.route == "ogbench" and data.train.obs_dim == 28 and data.train.action_dim == 5


def _error_line(capsys):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def _train(data_dir, tmp_path, task=TASK):
    return main(["train", "--method", "drol", "--task", task, "--data-dir", str(data_dir),
                 "--out", str(tmp_path / "run"), "--no-progress", "--set", "steps=2"])


def test_missing_dataset_offline_names_file_url_and_fix(tmp_path, capsys):
    assert _train(tmp_path, tmp_path) == 2
    err = _error_line(capsys)
    assert "cube-single-play-v0.npz" in err and "rail.eecs.berkeley.edu" in err and "drol gen-data" in err
    assert not (tmp_path / "run").exists()


def test_missing_download_only_dataset_says_it_cannot_be_regenerated(tmp_path, capsys):
    assert _train(tmp_path, tmp_path, "humanoidmaze-medium-navigate-singletask-task1-v0") == 2
    err = _error_line(capsys)
    assert "humanoidmaze-medium-navigate-v0.npz" in err and "cannot be regenerated" in err


def test_truncated_file(data_dir, tmp_path, capsys):
    train, _ = dataset_paths(TASK, data_dir)
    train.write_bytes(train.read_bytes()[:-100])
    assert _train(data_dir, tmp_path) == 2
    assert "truncated or corrupt" in _error_line(capsys)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("replace, words", [
    ({"qpos": None}, ["missing key", "qpos"]),
    ({"rewards": np.zeros(33, np.float32)}, ["unexpected key", "rewards"]),
    ({"observations": np.zeros((33, 27), np.float32)}, ["observations has shape (30, 27)", "(30, 28)"]),
    ({"actions": np.full((33, 5), np.nan, np.float32)}, ["actions holds", "non-finite"]),
])
def test_bad_contents_name_key_and_fix(data_dir, tmp_path, capsys, replace, words):
    train, _ = dataset_paths(TASK, data_dir)
    write_cube_file(train, episodes=3, **replace)
    assert _train(data_dir, tmp_path) == 2
    err = _error_line(capsys)
    assert str(train) in err and all(w in err for w in words), err


def test_train_runs_end_to_end_and_records_the_dataset(data_dir, tmp_path):
    args = ["train", "--method", "fql", "--task", TASK, "--data-dir", str(data_dir), "--out", str(tmp_path / "run"),
            "--no-progress"]
    sets = ["steps=3", "eval_episodes=2", "actor_hidden_dims=16", "value_hidden_dims=16", "log_interval=1"]
    assert main(args + sum([["--set", s] for s in sets], [])) == 0
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["status"] == "finished" and run["dataset"]["route"] == "ogbench" and run["dataset"]["size"] == 30
    import pandas as pd

    evals = pd.read_parquet(tmp_path / "run" / "evals.parquet")
    assert len(evals) == 2 * 2 and (evals.length == 200).all()  # no success from noise: full episodes
