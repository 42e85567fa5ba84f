"""D4RL tasks: the hdf5 reader against hand-written qlearning_dataset + FQL outputs, errors, scores, envs."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
import torch

from drol.data import DataError, d4rl, d4rl_envs
from drol.tasks import get_task

UMAZE = "antmaze-umaze-v2"
PEN = "pen-human-v1"


def rows(ids, dim):
    """Row k of an array = its scalar id repeated `dim` times (so expectations are lists of ids)."""
    return np.repeat(np.asarray(ids, dtype=np.float32)[:, None], dim, axis=1)


def write(path, **arrays):
    h5py = pytest.importorskip("h5py", reason="h5py is not installed (the D4RL extra)")
    with h5py.File(path, "w") as f:
        for key, value in arrays.items():
            f.create_dataset(key, data=value)
        f.create_dataset("infos/goal", data=np.zeros((len(arrays["rewards"]), 2)))  # extra keys are ignored
    return path


# Antmaze-like file: 9 samples. Episode 1 = rows 0-4 (goal reached at row 2: terminal, the episode goes
# on; row 4 times out), episode 2 = rows 5-7 (row 7 times out and is also terminal), row 8 = the file's
# last sample (a new episode's first).
ANT_OBS = [0, 1, 2, 3, 4, 10, 11, 12, 20]
ANT_ACT = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
ANT_REW = [0, 0, 1, 1, 0, 0, 0, 1, 0]
ANT_TERM = [0, 0, 1, 0, 0, 0, 0, 1, 0]
ANT_TIMEOUT = [0, 0, 0, 0, 1, 0, 0, 1, 0]

# Adroit-like file: 9 samples. Episode 1 = rows 0-2 ending on a terminal (pen dropped) at row 2,
# episode 2 = rows 3-5 ending on a timeout at row 5, episode 3 = rows 6-8 (row 8 = the last sample).
PEN_OBS = [0, 1, 2, 20, 21, 22, 30, 31, 32]
PEN_ACT = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
PEN_REW = [5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0]
PEN_TERM = [0, 0, 1, 0, 0, 0, 0, 0, 0]
PEN_TIMEOUT = [0, 0, 0, 0, 0, 1, 0, 0, 0]


def antmaze_file(tmp_path, **override):
    arrays = dict(observations=rows(ANT_OBS, 29), actions=rows(ANT_ACT, 8), rewards=np.array(ANT_REW, np.float32),
                  terminals=np.array(ANT_TERM, bool), timeouts=np.array(ANT_TIMEOUT, bool))
    arrays.update(override)
    return write(tmp_path / d4rl.d4rl_spec(UMAZE).hdf5_file, **arrays)


def pen_file(tmp_path, **override):
    # rewards and terminals stored as (N, 1), as some D4RL files do: the reader squeezes them like D4RL.
    arrays = dict(observations=rows(PEN_OBS, 45).astype(np.float64), actions=rows(PEN_ACT, 24),
                  rewards=np.array(PEN_REW, np.float64)[:, None], terminals=np.array(PEN_TERM, bool)[:, None],
                  timeouts=np.array(PEN_TIMEOUT, bool))
    arrays.update(override)
    return write(tmp_path / "pen-human-v1.hdf5", **arrays)


def test_antmaze_file_gives_qlearning_transitions_and_reference_masks_rewards(tmp_path):
    antmaze_file(tmp_path)
    arrays, source, info = d4rl.load_d4rl_arrays(UMAZE, "hdf5", tmp_path)
    # qlearning_dataset: rows 0-3, 5, 6 (4 and 7 time out, 8 is the last sample); next obs = the next row.
    np.testing.assert_array_equal(arrays["observations"], rows([0, 1, 2, 3, 10, 11], 29))
    np.testing.assert_array_equal(arrays["next_observations"], rows([1, 2, 3, 4, 11, 12], 29))
    np.testing.assert_array_equal(arrays["actions"], rows([0.0, 0.1, 0.2, 0.3, 0.5, 0.6], 8))
    np.testing.assert_array_equal(arrays["terminals"], [False, False, True, False, False, False])
    # FQL: masks = 1 - terminals; antmaze rewards - 1; episode ends where obs[i+1] != next_obs[i] (not at the
    # terminal) and at the last transition.
    np.testing.assert_array_equal(arrays["masks"], [1, 1, 0, 1, 1, 1])
    np.testing.assert_array_equal(arrays["rewards"], [-1, -1, 0, 0, -1, -1])
    np.testing.assert_array_equal(arrays["episode_ends"], [False, False, False, True, False, True])
    assert arrays["observations"].dtype == np.float32 and arrays["rewards"].dtype == np.float32
    assert source == str(tmp_path / d4rl.d4rl_spec(UMAZE).hdf5_file)
    assert info["route"] == "d4rl-hdf5" and info["transitions"] == 6 and info["episodes"] == 2


def test_adroit_file_gives_qlearning_transitions_and_reference_masks_ends(tmp_path):
    pen_file(tmp_path)
    arrays, _, info = d4rl.load_d4rl_arrays(PEN, "hdf5", tmp_path)
    # Row 2 is terminal: kept, and its next obs is the next episode's first (qlearning_dataset's pairing).
    np.testing.assert_array_equal(arrays["observations"], rows([0, 1, 2, 20, 21, 30, 31], 45))
    np.testing.assert_array_equal(arrays["next_observations"], rows([1, 2, 20, 21, 22, 31, 32], 45))
    np.testing.assert_array_equal(arrays["actions"], rows([0.0, 0.1, 0.2, 0.3, 0.4, 0.6, 0.7], 24))
    np.testing.assert_array_equal(arrays["rewards"], [5, 6, 7, 8, 9, 11, 12])  # adroit rewards unchanged
    np.testing.assert_array_equal(arrays["masks"], [1, 1, 0, 1, 1, 1, 1])
    # Adroit: an episode ends at a terminal (row 2, although obs[3] == next_obs[2]) or a gap (after row 4).
    np.testing.assert_array_equal(arrays["episode_ends"], [False, False, True, False, True, False, True])
    assert info["episodes"] == 3


def test_load_d4rl_builds_task_data(tmp_path):
    path = pen_file(tmp_path)
    data = d4rl.load_d4rl(get_task(PEN), "cpu", route="hdf5", data_dir=tmp_path)
    assert data.route == "d4rl-hdf5" and data.val is None
    assert len(data.train) == 7 and data.train.obs_dim == 45 and data.train.action_dim == 24
    torch.testing.assert_close(data.train.tensors["masks"], torch.tensor([1.0, 1, 0, 1, 1, 1, 1]))
    assert data.train.info["source"] == str(path) and data.train.info["route"] == "d4rl-hdf5"
    assert len(data.train.fingerprint) == 64
    np.testing.assert_allclose(data.scorer(np.array([96.262799]), np.array([False])), [0.0], atol=1e-9)


def test_default_dir_follows_env_vars(monkeypatch, tmp_path):
    monkeypatch.setenv("DROL_D4RL_DIR", str(tmp_path / "a"))
    monkeypatch.setenv("D4RL_DATASET_DIR", str(tmp_path / "b"))
    assert d4rl.default_d4rl_dir() == tmp_path / "a"
    monkeypatch.delenv("DROL_D4RL_DIR")
    assert d4rl.default_d4rl_dir() == tmp_path / "b"
    monkeypatch.delenv("D4RL_DATASET_DIR")
    assert str(d4rl.default_d4rl_dir()).endswith(".d4rl/datasets")
    pen_file(tmp_path)
    monkeypatch.setenv("DROL_D4RL_DIR", str(tmp_path))
    assert len(d4rl.load_d4rl_arrays(PEN)[0]["observations"]) == 7


def test_normalized_scores():
    pen = d4rl.normalized_score_fn(PEN)
    lo, hi = 96.262799, 3076.8331017826877
    np.testing.assert_allclose(pen(np.array([lo, hi, (lo + hi) / 2, lo - (hi - lo)]), np.zeros(4, bool)),
                               [0.0, 100.0, 50.0, -100.0], atol=1e-9)
    door = d4rl.normalized_score_fn("door-expert-v1")
    np.testing.assert_allclose(door(np.array([-56.512833, 2880.5693087298737]), np.zeros(2, bool)), [0, 100],
                               atol=1e-9)
    ant = d4rl.normalized_score_fn("antmaze-large-diverse-v2")
    np.testing.assert_allclose(ant(np.array([0.0, 1.0]), np.array([False, True])), [0.0, 100.0])
    with pytest.raises(DataError, match="no D4RL reference"):
        d4rl.normalized_score_fn("cube-single-play-singletask-task1-v0")


def test_every_d4rl_task_of_the_registry_is_known():
    names = {t for t in d4rl.d4rl_specs()}
    assert len(names) == 18
    from drol.tasks import registry
    assert names == {name for name, t in registry().items() if t.suite == "d4rl"}
    assert d4rl.episode_limit(UMAZE) == 700 and d4rl.episode_limit("antmaze-large-play-v2") == 1000
    assert d4rl.episode_limit(PEN) == 100 and d4rl.episode_limit("relocate-expert-v1") == 200


# ------------------------------------------------------------------------------------------ errors

def test_missing_file_names_where_and_how(tmp_path, monkeypatch):
    monkeypatch.setenv("DROL_D4RL_DIR", str(tmp_path))
    with pytest.raises(DataError) as err:
        d4rl.load_d4rl_arrays(UMAZE)
    msg = str(err.value)
    assert str(tmp_path / d4rl.d4rl_spec(UMAZE).hdf5_file) in msg and "DROL_D4RL_DIR" in msg
    assert "rail.eecs.berkeley.edu/datasets/offline_rl/ant_maze_v2/" in msg and "\n" not in msg


def test_truncated_file(tmp_path):
    path = pen_file(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="truncated or corrupt") as err:
        d4rl.load_d4rl_arrays(PEN, data_dir=tmp_path)
    assert str(path) in str(err.value) and "hand_dapg_v1/pen-human-v1.hdf5" in str(err.value)


def test_not_an_hdf5_file(tmp_path):
    pytest.importorskip("h5py", reason="h5py is not installed (the D4RL extra)")
    (tmp_path / "pen-human-v1.hdf5").write_text("<html>404</html>")
    with pytest.raises(DataError, match="truncated or corrupt"):
        d4rl.load_d4rl_arrays(PEN, data_dir=tmp_path)


def test_missing_key(tmp_path):
    path = tmp_path / "pen-human-v1.hdf5"
    write(path, observations=rows(PEN_OBS, 45), actions=rows(PEN_ACT, 24), rewards=np.array(PEN_REW),
          terminals=np.array(PEN_TERM, bool))
    with pytest.raises(DataError, match="missing key.*timeouts") as err:
        d4rl.load_d4rl_arrays(PEN, data_dir=tmp_path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("override, key", [
    ({"observations": rows(PEN_OBS, 44)}, "observations"),  # another task's observation size
    ({"actions": rows(PEN_ACT[:-1], 24)}, "actions"),  # one row short
    ({"timeouts": np.zeros((9, 2), bool)}, "timeouts"),
])
def test_wrong_shape(tmp_path, override, key):
    path = pen_file(tmp_path, **override)
    with pytest.raises(DataError, match=f"'{key}' has shape") as err:
        d4rl.load_d4rl_arrays(PEN, data_dir=tmp_path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("key", ["observations", "actions", "rewards"])
def test_non_finite_values(tmp_path, key):
    arrays = {"observations": rows(PEN_OBS, 45), "actions": rows(PEN_ACT, 24),
              "rewards": np.array(PEN_REW, np.float32)}
    arrays[key][3] = np.nan
    path = pen_file(tmp_path, **{key: arrays[key]})
    with pytest.raises(DataError, match="non-finite") as err:
        d4rl.load_d4rl_arrays(PEN, data_dir=tmp_path)
    assert str(path) in str(err.value)


def test_unknown_route_and_task(tmp_path):
    with pytest.raises(DataError, match="unknown D4RL route"):
        d4rl.load_d4rl_arrays(PEN, "zip", tmp_path)
    with pytest.raises(DataError, match="not one of the 18 D4RL tasks"):
        d4rl.load_d4rl_arrays("pen-human-v0", "hdf5", tmp_path)


def test_d4rl_route_names_the_hdf5_route_when_d4rl_does_not_import():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import d4rl as _  # noqa: F401
        pytest.skip("d4rl imports here")
    except Exception:
        pass
    with pytest.raises(DataError, match="import d4rl.*route='hdf5'"):
        d4rl.load_d4rl_arrays(PEN, "d4rl")


# ------------------------------------------------------------------------------------ minari route

def _minari():
    return pytest.importorskip("minari", reason="minari is not installed")


def _create_minari(monkeypatch, root, dataset_id, episodes, obs_space, act_space):
    minari_mod = _minari()
    from minari.data_collector import EpisodeBuffer

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    buffers = [EpisodeBuffer(id=k, observations=ep["obs"], actions=ep["act"], rewards=list(ep["rew"]),
                             terminations=list(ep["term"]), truncations=list(ep["trunc"]), infos={})
               for k, ep in enumerate(episodes)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        minari_mod.create_dataset_from_buffers(dataset_id, buffers, observation_space=obs_space,
                                               action_space=act_space)


def test_minari_adroit_episodes_become_transitions(tmp_path, monkeypatch):
    _minari()
    from gymnasium import spaces

    episodes = [  # episode 1 ends on a termination, episode 2 on a truncation; every step is a transition
        {"obs": rows([0, 1, 2, 3], 45), "act": rows([0.0, 0.1, 0.2], 24), "rew": [1.0, 2.0, 3.0],
         "term": [False, False, True], "trunc": [False, False, False]},
        {"obs": rows([10, 11, 12], 45), "act": rows([0.3, 0.4], 24), "rew": [4.0, 5.0],
         "term": [False, False], "trunc": [False, True]},
    ]
    _create_minari(monkeypatch, tmp_path / "other", "D4RL/pen/human-v2", episodes,
                   spaces.Box(-np.inf, np.inf, (45,), np.float64), spaces.Box(-1, 1, (24,), np.float32))
    arrays, source, info = d4rl.load_d4rl_arrays(PEN, "minari", tmp_path / "other")
    np.testing.assert_array_equal(arrays["observations"], rows([0, 1, 2, 10, 11], 45))
    np.testing.assert_array_equal(arrays["next_observations"], rows([1, 2, 3, 11, 12], 45))
    np.testing.assert_array_equal(arrays["rewards"], [1, 2, 3, 4, 5])
    np.testing.assert_array_equal(arrays["masks"], [1, 1, 0, 1, 1])
    np.testing.assert_array_equal(arrays["episode_ends"], [False, False, True, False, True])
    assert info["route"] == "minari" and info["minari_dataset"] == "D4RL/pen/human-v2"
    assert source.endswith("human-v2/data")


def test_minari_antmaze_dict_observations(tmp_path, monkeypatch):
    _minari()
    from gymnasium import spaces

    def obs(ids):
        return {"observation": rows(ids, 27), "achieved_goal": rows(ids, 2) * 10,
                "desired_goal": np.zeros((len(ids), 2), np.float32)}

    episodes = [{"obs": obs([0, 1, 2]), "act": rows([0.0, 0.1], 8), "rew": [0.0, 1.0],
                 "term": [False, False], "trunc": [False, True]}]
    space = spaces.Dict({"observation": spaces.Box(-np.inf, np.inf, (27,), np.float64),
                         "achieved_goal": spaces.Box(-np.inf, np.inf, (2,), np.float64),
                         "desired_goal": spaces.Box(-np.inf, np.inf, (2,), np.float64)})
    _create_minari(monkeypatch, tmp_path, "D4RL/antmaze/umaze-v1", episodes, space,
                   spaces.Box(-1, 1, (8,), np.float32))
    arrays, _, _ = d4rl.load_d4rl_arrays(UMAZE, "minari")  # root from $MINARI_DATASETS_PATH
    np.testing.assert_array_equal(arrays["observations"][:, :2], [[0, 0], [10, 10]])  # x, y first
    np.testing.assert_array_equal(arrays["observations"][:, 2:], rows([0, 1], 27))
    np.testing.assert_array_equal(arrays["rewards"], [-1, 0])
    np.testing.assert_array_equal(arrays["episode_ends"], [False, True])


def test_minari_missing_dataset_names_the_download(tmp_path):
    with pytest.raises(DataError, match="minari download D4RL/door/expert-v2") as err:
        d4rl.load_d4rl_arrays("door-expert-v1", "minari", tmp_path)
    assert str(tmp_path) in str(err.value)


# ------------------------------------------------------------------------------------ environments

def _robotics():
    try:
        return d4rl_envs._gymnasium_robotics()
    except DataError as err:
        pytest.skip(f"gymnasium-robotics is not installed ({err})")


def test_missing_gymnasium_robotics_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gymnasium_robotics", None)
    with pytest.raises(DataError, match="pip install gymnasium-robotics"):
        d4rl_envs.make_d4rl_env(PEN, 1)


@pytest.mark.parametrize("task", ["pen-human-v1", "door-cloned-v1", "hammer-expert-v1", "relocate-human-v1",
                                  "antmaze-umaze-v2", "antmaze-medium-play-v2", "antmaze-large-diverse-v2"])
def test_env_spaces_match_d4rl(task):
    _robotics()
    spec = d4rl.d4rl_spec(task)
    env = d4rl_envs.make_d4rl_env(task, 2, workers=1)  # in this process, so its envs can be inspected
    try:
        for e in env.envs:
            assert e.observation_space.shape == (spec.obs_dim,)
            assert e.action_space.shape == (spec.action_dim,)
            assert np.all(e.action_space.low == -1) and np.all(e.action_space.high == 1)
        obs = env.reset([0])
        assert obs.shape == (2, spec.obs_dim)
        next_obs, reward, done, success = env.step(np.zeros((2, spec.action_dim), np.float32), np.arange(2))
        assert next_obs.shape == (2, spec.obs_dim) and np.isfinite(next_obs).all()
        assert env.max_episode_steps == spec.episode_limit
    finally:
        env.close()


def test_antmaze_maps_are_gymnasium_robotics_mazes():
    _robotics()
    from gymnasium_robotics.envs.maze import maps

    ours = d4rl_envs.ANTMAZE_MAPS
    for layout, theirs in ((ours["umaze"], maps.U_MAZE), (ours["medium"], maps.MEDIUM_MAZE),
                           (ours["large"], maps.LARGE_MAZE)):
        walls = [[1 if c == "#" else 0 for c in row] for row in layout]
        assert walls == [[1 if c == 1 else 0 for c in row] for row in theirs]


@pytest.mark.parametrize("task, goal_cell", [("antmaze-umaze-v2", (0, 8)), ("antmaze-medium-diverse-v2", (20, 20)),
                                             ("antmaze-large-play-v2", (32, 24))])
def test_antmaze_env_uses_d4rl_frame_start_goal_and_radius(task, goal_cell):
    _robotics()
    env = d4rl_envs.make_antmaze_env(task)
    try:
        for seed in range(3):
            obs, _ = env.reset(seed=seed)
            assert np.all(np.abs(obs[:2]) <= 0.1)  # D4RL: the ant starts at the origin (+- 0.1)
            goal = env.d4rl_goal()
            assert np.all(goal >= goal_cell) and np.all(goal <= np.add(goal_cell, 1.5))
        # Put the torso 0.45 m from the goal (inside D4RL's 0.5 radius): reward 1 and the episode ends.
        qpos = env.ant.data.qpos.copy()
        qpos[:2] = env.maze_env.goal + np.array([0.45, 0.0])
        env.ant.set_state(qpos, np.zeros_like(env.ant.data.qvel))
        obs, reward, terminated, truncated, info = env.step(np.zeros(8))
        assert reward == 1.0 and terminated and info["success"]
        np.testing.assert_allclose(obs[:2], goal + [0.45, 0.0], atol=0.05)
    finally:
        env.close()


def test_d4rl_ant_model_has_d4rl_timing_and_motors():
    _robotics()
    env = d4rl_envs.make_antmaze_env(UMAZE)
    try:
        assert env.ant.dt == pytest.approx(0.1)
        assert np.all(env.ant.model.actuator_ctrlrange == [-30, 30]) and np.all(env.ant.model.actuator_gear[:, 0] == 1)
    finally:
        env.close()
    native = d4rl_envs.make_antmaze_env(UMAZE, ant_model="gymnasium")
    try:
        assert native.ant.dt == pytest.approx(0.05) and np.all(native.ant.model.actuator_gear[:, 0] == 150)
    finally:
        native.close()


def test_evaluate_scores_a_pen_policy_with_d4rl_limits():
    _robotics()
    from drol.evaluate import evaluate

    env = d4rl_envs.make_d4rl_env(PEN, 2, workers=2)  # one environment in each of two worker processes
    try:
        [frame] = evaluate(lambda wave: lambda obs: torch.zeros(*obs.shape[:2], 24), env, seeds=[0],
                           scorer=d4rl.normalized_score_fn(PEN))
    finally:
        env.close()
    assert len(frame) == 2 and (frame["length"] <= 100).all()
    np.testing.assert_allclose(frame["score"], 100 * (frame["return"] - 96.262799) / (3076.8331017826877 - 96.262799))


def test_minari_antmaze_env_keeps_the_datasets_own_frame():
    gymnasium = _robotics()
    env = d4rl_envs.make_minari_antmaze_env(UMAZE, gymnasium.spec("AntMaze_UMaze-v4"))
    try:
        obs, _ = env.reset(seed=0)
        assert obs.shape == (29,) and not env.maze_env.continuing_task
        np.testing.assert_allclose(obs[:2], env.ant.data.qpos[:2])  # gymnasium-robotics' frame, no offset
        assert env.env.spec.max_episode_steps == 700
    finally:
        env.close()
