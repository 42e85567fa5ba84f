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


# --------------------------------------------------------------------------------------------------------
# Bad files: one line naming the file, the key and the fix, before OGBench's loader and any run file.

STEPS = 33  # rows of the fixture's training file (3 episodes of 11 states)
_ENDS = np.zeros(STEPS, np.float32)
_ENDS[10::11] = 1
# A run as short as can be, so that where a bad file is not refused the test fails fast on the exit code.
_TINY = ["--set", "eval_episodes=1", "--set", "actor_hidden_dims=8", "--set", "value_hidden_dims=8"]


def _train_tiny(data_dir, tmp_path):
    return main(["train", "--method", "drol", "--task", TASK, "--data-dir", str(data_dir), "--out",
                 str(tmp_path / "run"), "--no-progress", "--set", "steps=2", *_TINY])


def _nan_at(shape, row):
    array = np.zeros(shape, np.float32)
    array[row, 0] = np.nan
    return array


@pytest.mark.parametrize("replace, words", [
    # Row counts that differ: OGBench's loader raised IndexError.
    ({"actions": np.zeros((20, 5), np.float32)}, ["actions has 20 rows but observations has 33"]),
    ({"qvel": np.zeros((40, 20), np.float32)}, ["qvel has 40 rows but observations has 33"]),
    ({"terminals": _ENDS[:30]}, ["terminals has 30 rows but observations has 33"]),
    # Non-finite values in keys other than the transition keys trained to `finished`.
    ({"qpos": _nan_at((STEPS, 21), 7)}, ["qpos holds 1 non-finite value(s)", "row 7"]),
    ({"qvel": np.full((STEPS, 20), np.inf, np.float32)}, ["qvel holds 660 non-finite"]),
    ({"terminals": np.where(_ENDS == 1, np.nan, 0).astype(np.float32)}, ["terminals holds 3 non-finite"]),
    ({"observations": _nan_at((STEPS, 28), 32)}, ["observations holds 1 non-finite", "row 32"]),
    # Text and objects: text trained to `finished`, objects were reported as a truncated file.
    ({"observations": np.full((STEPS, 28), "1.0")}, ["observations has dtype <U3 (text)"]),
    ({"observations": np.full((STEPS, 28), 1.0, dtype=object)}, ["observations has dtype object"]),
    ({"actions": np.zeros((STEPS, 5), np.complex64)}, ["actions has dtype complex64"]),
    ({"observations": np.zeros(STEPS, np.float32)}, ["observations has shape (33,)", "(steps, dim)"]),
    # Terminals that leave a partial last episode, or no transition at all.
    ({"terminals": np.r_[_ENDS[:-1], 0].astype(np.float32)}, ["terminals is 0 in the last row", "truncated"]),
    ({"terminals": np.ones(STEPS, np.float32)}, ["terminals is 1 in every row", "no transition"]),
    # qpos of another environment: OGBench's relabelling fails; name the files.
    ({"qpos": np.zeros((STEPS, 5), np.float32)}, ["OGBench's loader failed", "do not belong to"]),
])
def test_bad_file_is_refused_naming_file_and_key_before_any_run_file(data_dir, tmp_path, capsys, replace, words):
    train, _ = dataset_paths(TASK, data_dir)
    write_cube_file(train, episodes=3, **replace)
    assert _train_tiny(data_dir, tmp_path) == 2
    err = _error_line(capsys)
    assert err.startswith(f"drol train: error: {train}") and "regenerate or re-download" in err, err
    assert all(w in err for w in words), err
    assert not (tmp_path / "run").exists()


def test_file_without_rows_is_refused(data_dir, tmp_path, capsys):
    _, val = dataset_paths(TASK, data_dir)
    write_cube_file(val, episodes=0)  # OGBench's loader raised IndexError
    assert _train_tiny(data_dir, tmp_path) == 2
    err = _error_line(capsys)
    assert f"{val}: observations has 0 rows" in err and "regenerate or re-download" in err, err
    assert not (tmp_path / "run").exists()


def test_numeric_dtypes_of_ogbench_files_load(data_dir):
    """bool terminals and integer button_states (as OGBench and `drol gen-data` write them) pass the checks."""
    train, _ = dataset_paths(TASK, data_dir)
    write_cube_file(train, episodes=3, terminals=_ENDS.astype(bool))
    data = load_ogbench(get_task(TASK), data_dir=data_dir)
    assert len(data.train) == 30


@pytest.fixture
def regen_dir(tmp_path):
    """`drol gen-data` files with short episodes (the same writer and sidecars as full ones)."""
    from drol.data.gen_files import generate_dataset

    data_dir = tmp_path / "data"
    generate_dataset(TASK, episodes=2, seed=0, data_dir=data_dir, progress=False, episode_length=11)
    return data_dir


def test_sidecar_that_matches_its_file_is_a_regenerated_dataset(regen_dir):
    data = load_ogbench(get_task(TASK), data_dir=regen_dir)
    assert data.route == "ogbench-regenerated" and data.train.info["settings"]["episodes"] == 2


def _rewrite_sidecar(npz, **changes):
    from drol.data.ogbench import sidecar_path

    meta = json.loads(sidecar_path(npz).read_text())
    meta.update(changes)
    meta = {k: v for k, v in meta.items() if v is not None}
    sidecar_path(npz).write_text(json.dumps(meta))


@pytest.mark.parametrize("split", [0, 1])
@pytest.mark.parametrize("tamper, words", [
    # The .npz rewritten after generation (another size).
    ("npz", ["bytes recorded in"]),
    # Same size, other contents: the sha256 decides.
    ("sha", ["its sha256", "differs from the sha256 000000000000", "recorded in"]),
])
def test_sidecar_whose_sha256_does_not_match_is_refused(regen_dir, tmp_path, capsys, split, tamper, words):
    from drol.data.ogbench import sidecar_path

    npz = dataset_paths(TASK, regen_dir)[split]
    if tamper == "npz":
        with np.load(npz) as f:
            arrays = dict(f)
        arrays["actions"] = arrays["actions"] * 0.5
        np.savez(npz, **arrays)  # a valid OGBench file, but not the one the sidecar describes
    else:
        _rewrite_sidecar(npz, sha256="0" * 64)
    assert _train_tiny(regen_dir, tmp_path) == 2
    err = _error_line(capsys)
    assert err.startswith(f"drol train: error: {npz}: its ") and sidecar_path(npz).name in err, err
    assert all(w in err for w in words), err
    assert f"drol gen-data {TASK} --episodes 2 --seed 0 --data-dir {regen_dir}" in err, err
    assert f"delete {sidecar_path(npz)} if the .npz is a downloaded file" in err, err
    assert not (tmp_path / "run").exists()


def test_sidecar_without_sha256_is_refused(regen_dir, tmp_path, capsys):
    npz = dataset_paths(TASK, regen_dir)[0]
    _rewrite_sidecar(npz, sha256=None)
    assert _train_tiny(regen_dir, tmp_path) == 2
    err = _error_line(capsys)
    assert f"{npz}.json: no sha256 of {npz.name}" in err and "drol gen-data" in err, err
    assert not (tmp_path / "run").exists()


def test_download_mode_checks_present_files_too(data_dir, monkeypatch):
    import ogbench.utils

    def no_download(*args, **kwargs):
        raise AssertionError("the loader tried to download a present file")

    monkeypatch.setattr(ogbench.utils.urllib.request, "urlopen", no_download)
    assert len(load_ogbench(get_task(TASK), data_dir=data_dir, offline=False).train) == 30
    train, _ = dataset_paths(TASK, data_dir)
    write_cube_file(train, episodes=3, actions=np.zeros((20, 5), np.float32))
    from drol.data import DataError

    with pytest.raises(DataError, match="actions has 20 rows"):
        load_ogbench(get_task(TASK), data_dir=data_dir, offline=False)


def test_download_mode_fetches_missing_files_with_drols_fetcher(tmp_path, monkeypatch):
    """`drol train --download`: the missing files come through drol.data.fetch (here from a file:// mirror,
    $DROL_DATA_URL), each with its sha256 record, and then load."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    train, val = dataset_paths(TASK, mirror)
    write_cube_file(train, episodes=3)
    write_cube_file(val, episodes=1, seed=1)
    monkeypatch.setenv("DROL_DATA_URL", mirror.as_uri())
    data_dir = tmp_path / "data"
    assert len(load_ogbench(get_task(TASK), data_dir=data_dir, offline=False).train) == 30
    for path in dataset_paths(TASK, data_dir):
        assert path.read_bytes() == (mirror / path.name).read_bytes()
        assert (data_dir / f"{path.name}.sha256").read_text().endswith(f"  {path.name}\n")
