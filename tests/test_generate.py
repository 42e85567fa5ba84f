"""Regeneration of OGBench datasets with OGBench's scripted oracles (drol.data.generate)."""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ogbench")

import drol  # noqa: E402
from drol.data import DataError, gen_files  # noqa: E402
from drol.data import generate as gen  # noqa: E402
from drol.data.gen_files import generate_dataset, generate_shard, merge_shards  # noqa: E402
from drol.data.generate import REGENERABLE, dataset_name_for, regenerable  # noqa: E402
from drol.data.ogbench import sidecar_path  # noqa: E402

# gymnasium warns when OGBench's float64 space bounds are cast to float32 (on first access to a space).
pytestmark = pytest.mark.filterwarnings("ignore:.*precision lowered by casting:UserWarning")

CUBE_TASK = "cube-single-play-singletask-task1-v0"
# Indices of cube-single observation entries that are computed from qpos/qvel alone: arm joint positions and
# velocities, gripper opening, cube pose. (Effector pose comes from site positions one physics substep behind
# qpos after mj_step, and gripper contact from contact forces: those are not reproducible from qpos.)
CUBE_STATE_DIMS = [*range(12), 17, *range(19, 28)]


def _make_env_and_datasets(name, data_dir, **kwargs):
    import ogbench

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ogbench.make_env_and_datasets(name, dataset_dir=str(data_dir), **kwargs)


@pytest.fixture(scope="module")
def cube_dir(tmp_path_factory):
    """3 full-length cube-single episodes (OGBench's 1001 steps) and 1 validation episode: ~4k env steps."""
    data_dir = tmp_path_factory.mktemp("cube")
    paths = generate_dataset(CUBE_TASK, episodes=3, seed=0, data_dir=data_dir, progress=False)
    return data_dir, paths


def test_cube_single_loads_through_ogbench_loader_with_its_rewards_and_masks(cube_dir, monkeypatch):
    data_dir, paths = cube_dir
    assert [p.name for p in paths] == ["cube-single-play-v0.npz", "cube-single-play-v0-val.npz",
                                       "cube-single-play-v0.npz.json", "cube-single-play-v0-val.npz.json"]

    import ogbench.utils

    def no_download(*args, **kwargs):
        raise AssertionError("the loader tried to download")

    monkeypatch.setattr(ogbench.utils.urllib.request, "urlopen", no_download)
    env, train, val = _make_env_and_datasets(CUBE_TASK, data_dir, compact_dataset=False)
    assert {"observations", "actions", "rewards", "masks", "terminals", "next_observations"} <= set(train)
    # 1001 env steps per episode give 1000 transitions (the loader drops each episode's last state).
    assert len(train["observations"]) == 3 * 1000 and len(val["observations"]) == 1 * 1000
    assert train["terminals"].sum() == 3 and val["terminals"].sum() == 1
    assert train["observations"].shape[1] == env.observation_space.shape[0]
    assert train["actions"].shape[1] == env.action_space.shape[0]
    assert np.abs(train["actions"]).max() <= 1
    # cube-single singletask: reward = successes - 1 in {-1, 0}, mask = 1 - success.
    assert set(np.unique(train["rewards"])) <= {-1.0, 0.0}
    np.testing.assert_array_equal(train["masks"], 1.0 - (train["rewards"] == 0))
    # Transitions are consecutive within an episode.
    np.testing.assert_array_equal(train["next_observations"][:999], train["observations"][1:1000])


def test_cube_single_rewards_and_states_agree_with_ogbench_env(cube_dir):
    """Relabel a few transitions through OGBench's own env (set the state, ask it for success)."""
    data_dir, _ = cube_dir
    env, train, _ = _make_env_and_datasets(CUBE_TASK, data_dir, add_info=True)
    u = env.unwrapped
    env.reset()
    target = u._data.mocap_pos[0].copy()
    closest = int(np.linalg.norm(train["qpos"][:, 14:17] - target, axis=-1).argmin())
    for i in [0, 1, 999, 1000, 2500, closest]:
        u.set_state(train["qpos"][i].astype(np.float64), train["qvel"][i].astype(np.float64))
        successes = u._compute_successes()
        assert train["rewards"][i] == sum(successes) - len(successes)
        assert train["masks"][i] == 1.0 - all(successes)
        # qpos/qvel are the state at the time of the observation (OGBench's prev_qpos/prev_qvel).
        ob = u.compute_observation()
        np.testing.assert_allclose(ob[CUBE_STATE_DIMS], train["observations"][i][CUBE_STATE_DIMS], atol=1e-5)


def test_file_layout_matches_ogbench_release(cube_dir):
    data_dir, _ = cube_dir
    with np.load(data_dir / "cube-single-play-v0.npz") as f:
        assert f.files == ["observations", "actions", "terminals", "qpos", "qvel"]
        assert f["observations"].dtype == np.float32 and f["actions"].dtype == np.float32
        assert f["terminals"].dtype == np.bool_ and f["qpos"].dtype == np.float32 and f["qvel"].dtype == np.float32
        assert f["observations"].shape == (3 * 1001, 28)
        assert f["terminals"].sum() == 3 and f["terminals"][1000] and f["terminals"][-1]


def test_button_envs_store_button_states(tmp_path):
    generate_dataset("puzzle-3x3-play", episodes=1, seed=0, data_dir=tmp_path, progress=False, episode_length=30)
    with np.load(tmp_path / "puzzle-3x3-play-v0.npz") as f:
        assert f.files == ["observations", "actions", "terminals", "qpos", "qvel", "button_states"]
        assert f["button_states"].dtype == np.int64 and f["button_states"].shape == (30, 9)


def test_same_seed_same_bytes_different_seed_different(tmp_path):
    runs = {}
    for label, seed in [("a", 3), ("b", 3), ("c", 4)]:
        runs[label] = generate_dataset("cube-single-play", episodes=2, seed=seed, data_dir=tmp_path / label,
                                       progress=False, episode_length=60)
    for a, b in zip(runs["a"], runs["b"]):
        assert a.read_bytes() == b.read_bytes()
    for a, c in zip(runs["a"][:2], runs["c"][:2]):
        assert a.read_bytes() != c.read_bytes()
        assert json.loads(sidecar_path(a).read_text())["sha256"] != json.loads(sidecar_path(c).read_text())["sha256"]


def test_pointmaze_teleport_is_deterministic(tmp_path):
    # Teleports draw from numpy's global RNG inside env.step: the seed must cover it.
    a = generate_dataset("pointmaze-teleport-navigate", 2, 0, tmp_path / "a", progress=False, episode_length=300)
    b = generate_dataset("pointmaze-teleport-navigate", 2, 0, tmp_path / "b", progress=False, episode_length=300)
    assert a[0].read_bytes() == b[0].read_bytes() and a[1].read_bytes() == b[1].read_bytes()


def test_global_numpy_rng_is_restored(tmp_path):
    np.random.seed(123)
    expected = np.random.rand()
    np.random.seed(123)
    generate_dataset("pointmaze-medium-navigate", 1, 0, tmp_path, progress=False, episode_length=20)
    assert np.random.rand() == expected


def test_sidecar_content(tmp_path):
    paths = generate_dataset("cube-single-play-v0", episodes=2, seed=7, data_dir=tmp_path, progress=False,
                             episode_length=40)
    train_meta = json.loads(paths[2].read_text())
    val_meta = json.loads(paths[3].read_text())
    for npz, meta, split, n_eps in [(paths[0], train_meta, "train", 2), (paths[1], val_meta, "val", 1)]:
        assert meta["sha256"] == hashlib.sha256(npz.read_bytes()).hexdigest()
        assert meta["file"] == npz.name and meta["split"] == split and meta["bytes"] == npz.stat().st_size
        assert meta["episodes_in_file"] == n_eps and meta["steps"] == n_eps * 40
        assert meta["generator"] == "drol.data.generate" and meta["oracle"] == "plan"
        s = meta["settings"]
        assert (s["episodes"], s["val_episodes"], s["seed"], s["episode_length"]) == (2, 1, 7, 40)
        assert (s["noise"], s["noise_smoothing"], s["dataset_type"]) == (0.1, 0.5, "play")
        assert (s["env_id"], s["released_episodes"], s["p_stack"]) == ("cube-single-v0", 1000, 0.0)
        assert meta["versions"]["ogbench"] == version("ogbench") and meta["versions"]["drol"] == drol.__version__
    # No temporary files left behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)


def test_pointmaze_file_loads_with_successes(tmp_path):
    name = "pointmaze-medium-navigate-singletask-task1-v0"
    generate_dataset(name, episodes=5, seed=0, data_dir=tmp_path, progress=False)
    any_success = False
    for task in range(1, 6):
        env, train, val = _make_env_and_datasets(name.replace("task1", f"task{task}"), tmp_path, add_info=True)
        assert len(train["observations"]) == 5 * 1000 and len(val["observations"]) == 1000
        assert train["observations"].shape[1] == env.observation_space.shape[0] == 2
        env.reset()
        u = env.unwrapped
        success = np.linalg.norm(train["qpos"] - u.cur_goal_xy, axis=-1) <= u._goal_tol
        np.testing.assert_array_equal(train["rewards"], success - 1.0)
        np.testing.assert_array_equal(train["masks"], 1.0 - success)
        any_success |= bool(success.any())
        # Point mass: the observation is its position, which is qpos.
        np.testing.assert_array_equal(train["observations"], train["qpos"])
    assert any_success  # the navigate oracle reaches some of the evaluation goals in 5 episodes


def test_name_mapping():
    for name in ["cube-single-play-singletask-task1-v0", "cube-single-play-singletask-v0", "cube-single-play-v0",
                 "cube-single-play"]:
        assert dataset_name_for(name) == "cube-single-play-v0"
        assert regenerable(name)
    assert dataset_name_for("pointmaze-giant-navigate-singletask-task3-v0") == "pointmaze-giant-navigate-v0"
    assert dataset_name_for("antmaze-large-navigate-singletask-task1-v0") == "antmaze-large-navigate-v0"
    assert not regenerable("antmaze-large-navigate-singletask-task1-v0")
    assert not regenerable("d4rl-antmaze-umaze-v2") and not regenerable("toy-bandit-v0")


def test_flags_follow_ogbench_commands():
    assert all(s.episode_length == 1001 for f, s in REGENERABLE.items() if f != "pointmaze-giant-navigate")
    assert REGENERABLE["pointmaze-giant-navigate"].episode_length == 2001
    assert REGENERABLE["pointmaze-giant-navigate"].episodes == 500
    assert REGENERABLE["cube-single-play"].episodes == 1000 and REGENERABLE["cube-single-play"].noise == 0.1
    assert REGENERABLE["pointmaze-medium-navigate"].noise == 0.5


def test_every_family_names_a_registered_ogbench_env():
    import gymnasium
    import ogbench  # noqa: F401

    for family in [*REGENERABLE, *gen.DOWNLOAD_ONLY]:
        stem = dataset_name_for(family)
        env_id = "-".join(stem.split("-")[:-2] + ["v0"])  # drop the dataset type, as OGBench's loader does
        assert env_id in gymnasium.registry, family
    for spec in REGENERABLE.values():
        assert spec.env_id in gymnasium.registry


def test_download_only_task_names_the_download(tmp_path):
    from ogbench.utils import DATASET_URL

    with pytest.raises(DataError) as err:
        generate_dataset("antmaze-large-navigate-singletask-task1-v0", 1, 0, tmp_path, progress=False)
    msg = str(err.value)
    assert "\n" not in msg and "cannot be regenerated" in msg and "expert" in msg
    assert "drol fetch-data antmaze-large-navigate-v0" in msg
    assert f"{DATASET_URL}/antmaze-large-navigate-v0.npz" in msg
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["cube-sextuple-play", "not-a-task-v0", "d4rl-antmaze-umaze-v2", ""])
def test_unknown_name_raises(name, tmp_path):
    with pytest.raises(DataError, match="unknown OGBench task or dataset"):
        generate_dataset(name, 1, 0, tmp_path, progress=False)
    with pytest.raises(DataError, match="unknown"):
        dataset_name_for(name)


def test_unwritable_dir_raises_before_generating_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(gen_files, "collect", lambda *a, **k: pytest.fail("generated before checking the directory"))
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(DataError, match="not writable"):
        generate_dataset("cube-single-play", 1, 0, blocker / "data", progress=False)
    assert [p.name for p in tmp_path.iterdir()] == ["a-file"]
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        with pytest.raises(DataError, match="not writable"):
            generate_dataset("cube-single-play", 1, 0, locked, progress=False)
        assert list(locked.iterdir()) == []


def test_failed_write_leaves_previous_files_intact(tmp_path, monkeypatch):
    old = generate_dataset("pointmaze-medium-navigate", 1, 0, tmp_path, progress=False, episode_length=20)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    real_write = gen_files.write_npz
    calls = []

    def failing_write(path, arrays):
        calls.append(path)
        if len(calls) == 2:
            real_write(path, arrays)  # a partial temp file exists when the error hits
            raise OSError(28, "No space left on device")
        real_write(path, arrays)

    monkeypatch.setattr(gen_files, "write_npz", failing_write)
    with pytest.raises(DataError, match="No space left"):
        generate_dataset("pointmaze-medium-navigate", 1, 1, tmp_path, progress=False, episode_length=20)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert len(old) == 4


def test_bad_arguments(tmp_path):
    with pytest.raises(DataError, match="episodes"):
        generate_dataset("cube-single-play", 0, 0, tmp_path, progress=False)
    with pytest.raises(DataError, match="seed"):
        generate_dataset("cube-single-play", 1, -1, tmp_path, progress=False)
    with pytest.raises(DataError, match="episode_length"):
        generate_dataset("cube-single-play", 1, 0, tmp_path, progress=False, episode_length=1)
    assert list(Path(tmp_path).iterdir()) == []


def test_scene_health_check_matches_ogbench_rule():
    qpos = np.zeros((3, 25))
    qpos[:, 14:17] = [0.4, 0.0, 0.02]
    assert gen._scene_healthy(qpos)
    right = qpos.copy()
    right[1, 15] = 0.29  # too far right
    assert not gen._scene_healthy(right)
    left = qpos.copy()
    left[1, 15:17] = [-0.31, 0.02]  # too far left, not in the drawer
    assert not gen._scene_healthy(left)
    drawer = qpos.copy()
    drawer[1, 15:17] = [-0.31, 0.07]  # in the drawer
    assert gen._scene_healthy(drawer)


@pytest.mark.slow
@pytest.mark.parametrize("family", [f for f, s in REGENERABLE.items() if s.kind == "manipspace"])
def test_every_manipulation_family_loads_as_singletask(family, tmp_path):
    """One full-length episode per family, loaded and relabelled by OGBench for its task 1 (~2-5 s each)."""
    generate_dataset(family, episodes=1, seed=0, data_dir=tmp_path, progress=False)
    task = family.replace("-play", "-play-singletask-task1-v0")
    env, train, val = _make_env_and_datasets(task, tmp_path)
    assert len(train["observations"]) == len(val["observations"]) == 1000
    assert train["observations"].shape[1] == env.observation_space.shape[0]
    assert train["rewards"].max() <= 0 and np.isfinite(train["observations"]).all()
    np.testing.assert_array_equal(train["masks"], 1.0 - (train["rewards"] == 0))


def test_unhealthy_scene_episodes_are_redrawn(tmp_path, monkeypatch):
    verdicts = iter([False] + [True] * 10_000)  # the first episode fails OGBench's health check
    monkeypatch.setattr(gen, "_scene_healthy", lambda qpos: next(verdicts))
    train, val = gen.collect(REGENERABLE["scene-play"], 2, 0, episode_length=20, progress=False)
    assert len(train["terminals"]) == 2 * 20 and len(val["terminals"]) == 20
    monkeypatch.setattr(gen, "_scene_healthy", lambda qpos: False)
    monkeypatch.setattr(gen, "_MAX_REDRAWS", 2)
    with pytest.raises(DataError, match="left the workspace"):
        gen.collect(REGENERABLE["scene-play"], 1, 0, episode_length=20, progress=False)


@pytest.mark.parametrize("family,length", [("cube-double-play", 30), ("pointmaze-medium-navigate", 25)])
def test_shards_merge_to_the_bytes_of_a_whole_generation(family, length, tmp_path):
    whole = generate_dataset(family, 5, 3, tmp_path / "whole", progress=False, episode_length=length)
    for shards in (2, 3):
        out = tmp_path / f"s{shards}"
        for shard in reversed(range(shards)):  # any order, as parallel jobs finish
            generate_shard(family, 5, 3, out, shard, shards, progress=False, episode_length=length)
        merged = merge_shards(family, 5, 3, out, shards, episode_length=length)
        for a, b in zip(whole[:2], merged[:2]):
            assert a.read_bytes() == b.read_bytes(), (shards, a.name)
        assert json.loads(merged[2].read_text())["generated_in_shards"] == shards
    # All in one call: the missing shards are generated, merged and deleted.
    once = generate_dataset(family, 5, 3, tmp_path / "once", progress=False, episode_length=length, shards=2)
    assert once[0].read_bytes() == whole[0].read_bytes() and not (tmp_path / "once" / "shards").exists()


def test_merge_names_the_missing_shard_and_its_command(tmp_path):
    generate_shard("cube-single-play", 4, 0, tmp_path, 0, 2, progress=False, episode_length=20)
    with pytest.raises(DataError, match=r"shard 1 of 2 .* --shards 2 --shard 1"):
        merge_shards("cube-single-play", 4, 0, tmp_path, 2, episode_length=20)
    with pytest.raises(DataError, match="shard must be an integer in"):
        generate_shard("cube-single-play", 4, 0, tmp_path, 2, 2, progress=False, episode_length=20)
    with pytest.raises(DataError, match="at most one shard per episode"):
        generate_shard("cube-single-play", 1, 0, tmp_path, 0, 2, progress=False, episode_length=20)


def test_data_stats_compare_a_file_with_the_released_dataset(tmp_path, capsys):
    from drol.cli import main
    from drol.data.stats import compare_with_released

    generate_dataset("cube-single-play", 3, 0, tmp_path, progress=False, episode_length=30)
    rows = {r.quantity: r for r in compare_with_released("cube-single-play-singletask-task1-v0", tmp_path)}
    assert (rows["training episodes"].ours, rows["training episodes"].released) == ("3", "1,000")
    assert rows["training episodes"].verdict == "differs"
    assert (rows["steps per episode"].ours, rows["steps per episode"].released) == ("30", "1,001")
    assert rows["training rows (transitions + one last state per episode)"].ours == "90"
    assert (rows["validation episodes"].ours, rows["validation rows"].ours) == ("1", "30")
    for same in ("observation dim", "action dim", "action range"):
        assert rows[same].verdict == "same", rows[same]
    assert main(["data-stats", "cube-single-play", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| observation dim | 28 | 28 | same |" in out and out.count("\n") == 13
