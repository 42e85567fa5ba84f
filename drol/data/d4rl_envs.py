"""Evaluation environments of the D4RL tasks: gymnasium-robotics' AntMaze and AdroitHand made to match D4RL.

`make_d4rl_env(task, num_envs, route=...)` is the batched env factory that `drol.data.d4rl.load_d4rl` hands
to training (the task specs, datasets and scores are in `drol.data.d4rl`). It needs gymnasium-robotics
(``pip install gymnasium-robotics``), imported on first use.

Mismatches with D4RL found, and what the wrappers do about each
---------------------------------------------------------------
Episode limits are D4RL's registrations (`drol.data.d4rl.episode_limit`; see `drol.data.d4rl`).

Adroit (``AdroitHand{Pen,Door,Hammer,Relocate}-v1``, wrapped by `D4RLAdroit`): observation and action
spaces match D4RL (pen 45/24, door 39/28, hammer 46/26, relocate 39/30), the observation functions,
resets, frame skip (5), action normalisation and success tests (``goal_achieved``) are D4RL's. Mismatches:

- gymnasium-robotics 1.2.1-1.4.2 flipped the sign of the hand-to-object term of the dense reward of
  door, hammer and relocate (+0.1 * distance instead of -0.1 * distance; Gymnasium-Robotics PR #220,
  fixed only in new ``-v2`` envs). `D4RLAdroit` recomputes D4RL's reward from the simulator state, so
  returns are D4RL's whatever the installed version.
- D4RL's pen ends the episode (done=True) when the pen falls (object z < 0.075); gymnasium-robotics'
  pen never terminates. `D4RLAdroit` terminates there, as D4RL does.
- gymnasium-robotics registers pen with 200 steps (D4RL: 100); the limit is set to D4RL's here.
- The success flag is ``info["success"]`` (D4RL: ``info["goal_achieved"]``, also set by the wrapper).
- Physics: the models run on the ``mujoco`` bindings (3.x/4.x) instead of MuJoCo 2.0/mujoco-py, with
  gymnasium-robotics' copies of the DAPG assets: dynamics are close but not bit-identical to D4RL's.

AntMaze (``AntMaze_{UMaze,Medium,Large}-v5``, wrapped by `D4RLAntMaze`). D4RL's antmaze observation is
29-dim: ``qpos[:15]`` (torso x, y, z, quaternion, 8 joint angles) + ``qvel[:14]``, with no goal in it;
gymnasium-robotics returns a dict whose ``achieved_goal`` is the torso x, y and whose ``observation`` is
``qpos[2:15] + qvel[:14]`` (27-dim with ``include_cfrc_ext_in_observation=False``; 105 with the v5 default
contact forces). So the D4RL observation is [achieved_goal, observation], *not* observation +
desired_goal. Mismatches, and what the wrapper does about each:

- Frame: D4RL places the ant's start cell at the origin with y growing with the maze row; gymnasium-
  robotics centres the maze on the origin with y *decreasing* with the row (a mirror image in y). The
  wrapper builds the maze from D4RL's test map with its rows reversed, which makes the two worlds equal up
  to a translation, and adds that translation to the x, y it reports (so the policy sees D4RL's frame).
- Maps: D4RL's evaluation maps (U_MAZE_TEST, BIG_MAZE_TEST, HARDEST_MAZE_TEST) with one start and one
  goal cell; gymnasium-robotics' registered ``AntMaze_Medium/Large`` have no start/goal cells (random
  cells) and its diverse variants several goals. The wrapper passes D4RL's map (`ANTMAZE_MAPS`).
- Start: D4RL puts the torso at the start cell's centre with uniform(-0.1, 0.1) noise on every qpos
  entry and 0.1 * N(0, 1) on every qvel entry; gymnasium-robotics adds uniform(-1, 1) m to x, y and no
  joint noise (``reset_noise_scale=0``). The wrapper resets the state D4RL's way.
- Goal: D4RL places the goal at the goal cell's centre plus uniform(0, 1) + uniform(0, 0.5) m per axis
  (towards +x, +y only: 0 to 1.5 m), resampled every episode (``v2_resets``); gymnasium-robotics samples
  uniform(-1, 1) m around the centre. The wrapper samples D4RL's goal.
- Goal radius: D4RL's sparse reward and termination use distance <= 0.5; gymnasium-robotics 0.45. The
  wrapper uses 0.5 (reward 1 and termination at the goal; ``continuing_task=False``).
- Ant model: gymnasium's ``ant.xml`` has timestep 0.01 (dt = 0.05 s per env step) and motors with
  ctrlrange [-1, 1] and gear 150 (torque up to 150); D4RL's ``locomotion/assets/ant.xml`` has timestep
  0.02 (dt = 0.1 s), motors with ctrlrange [-30, 30] and gear 1 (torque up to 30, actions in [-1, 1]
  scaled by D4RL's NormalizedBoxEnv), and contact defaults solref ".02 1", solimp ".8 .8 .01". The
  bodies, joints, ranges and frame skip (5) are the same. With ``ant_model="d4rl"`` (default) the
  wrapper loads gymnasium's ant.xml patched to D4RL's values (`d4rl_ant_xml`) and scales actions by 30;
  ``ant_model="gymnasium"`` keeps gymnasium's ant (policies trained on D4RL data then see 5x stronger,
  2x faster-stepped motors).
- Physics engine: MuJoCo 2.0 through mujoco-py (D4RL) against the current ``mujoco`` bindings; the
  wall geometry (4 m cells, 2 m high blocks) is the same.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import io
import os
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from drol.data import DataError
from drol.data.d4rl import _one_line, d4rl_spec

# D4RL's antmaze evaluation maps in D4RL's orientation (row 0 = smallest y): '#' wall, '.' free,
# 'r' the start cell (D4RL's origin), 'g' the goal cell.
ANTMAZE_MAPS = {
    "umaze": ("#####",
              "#r..#",
              "###.#",
              "#g..#",
              "#####"),
    "medium": ("########",
               "#r.##..#",
               "#..#...#",
               "##...###",
               "#..#...#",
               "#.#..#.#",
               "#...#.g#",
               "########"),
    "large": ("############",
              "#r...#.....#",
              "#.##.#.#.#.#",
              "#......#...#",
              "#.####.###.#",
              "#..#.#.....#",
              "##.#.#.#.###",
              "#..#...#.g.#",
              "############"),
}
MAZE_SCALING = 4.0  # metres per maze cell (D4RL and gymnasium-robotics)
D4RL_GOAL_RADIUS = 0.5
D4RL_ANT_ACTION_SCALE = 30.0  # D4RL's motors: ctrlrange [-30, 30], gear 1


# ----------------------------------------------------------------------------------- environments

def _gymnasium_robotics():
    """Import gymnasium and register gymnasium-robotics' envs (its import-time notice is silenced)."""
    try:
        import gymnasium
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            import gymnasium_robotics
        gymnasium.register_envs(gymnasium_robotics)
    except ImportError as err:
        raise DataError(f"D4RL evaluation environments need gymnasium-robotics ({_one_line(err)}): "
                        "pip install gymnasium-robotics") from None
    return gymnasium


@functools.cache
def d4rl_ant_xml() -> str:
    """gymnasium's ant.xml patched to D4RL's ant: timestep 0.02, motors [-30, 30] gear 1, D4RL contacts."""
    from gymnasium.envs.mujoco import ant_v5

    tree = ET.parse(Path(ant_v5.__file__).parent / "assets" / "ant.xml")
    root = tree.getroot()
    root.find("option").set("timestep", "0.02")
    geom = root.find("default").find("geom")
    geom.set("solref", ".02 1")
    geom.set("solimp", ".8 .8 .01")
    for motor in root.find("actuator"):
        motor.set("ctrlrange", f"{-D4RL_ANT_ACTION_SCALE} {D4RL_ANT_ACTION_SCALE}")
        motor.attrib.pop("gear", None)
    fd, path = tempfile.mkstemp(prefix="drol-d4rl-ant-", suffix=".xml")
    with os.fdopen(fd, "wb") as f:
        tree.write(f)
    atexit.register(_remove_quietly, path)
    return path


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)


def _cell(layout: tuple[str, ...], mark: str) -> tuple[int, int]:
    return next((i, j) for i, row in enumerate(layout) for j, c in enumerate(row) if c == mark)


def gymnasium_maze_map(layout: tuple[str, ...]) -> list[list]:
    """D4RL's map with its rows reversed, in gymnasium-robotics' notation (1 wall, 0 free, 'r', 'g')."""
    code = {"#": 1, ".": 0, "r": "r", "g": "g"}
    return [[code[c] for c in row] for row in reversed(layout)]


class D4RLAntMaze:
    """Marker type; see `make_antmaze_env` (the class is built on first use, needing gymnasium)."""


@functools.cache
def _antmaze_wrapper_class():
    import gymnasium
    from gymnasium import spaces

    class _D4RLAntMaze(gymnasium.Wrapper, D4RLAntMaze):
        """An AntMaze with D4RL's 29-dim observation; with `layout`, D4RL's frame, resets, goal and radius.

        Without `layout` (the Minari route) the env keeps its own frame, start, goal and 0.45 radius.
        """

        def __init__(self, env, layout: tuple[str, ...] | None):
            super().__init__(env)
            self.maze_env = env.unwrapped
            self.ant = self.maze_env.ant_env
            self.layout = layout
            inner = env.action_space
            self._low, self._high = inner.low.astype(np.float64), inner.high.astype(np.float64)
            self.action_space = spaces.Box(-1.0, 1.0, inner.shape, np.float32)
            self.observation_space = spaces.Box(-np.inf, np.inf, (29,), np.float64)
            self.offset = np.zeros(2)
            self._rng = np.random.default_rng()
            if layout is not None:
                rows = len(layout)
                i_r, j_r = _cell(layout, "r")
                # D4RL's start cell is its origin: offset = D4RL xy - gymnasium xy, the same for every point.
                self.offset = -self.maze_env.maze.cell_rowcol_to_xy(np.array([rows - 1 - i_r, j_r]))
                self.start_cell, self.goal_cell = (i_r, j_r), _cell(layout, "g")

        def _obs(self) -> np.ndarray:
            qpos, qvel = self.ant.data.qpos.flat, self.ant.data.qvel.flat
            return np.concatenate([np.asarray(qpos[:2]) + self.offset, qpos[2:15], qvel[:14]])

        def d4rl_goal(self) -> np.ndarray:
            """The current goal in the frame of the observations."""
            return np.asarray(self.maze_env.goal) + self.offset

        def reset(self, *, seed=None, options=None):
            _, info = self.env.reset(seed=seed, options=options)
            if self.layout is None:
                return self._obs(), info
            if seed is not None:
                self._rng = np.random.default_rng(seed)
            rng, s = self._rng, MAZE_SCALING
            (i_r, j_r), (i_g, j_g) = self.start_cell, self.goal_cell
            # Goal: the goal cell's centre plus uniform(0, s/4) + uniform(0, 0.5) * s/4 per axis (D4RL).
            goal = np.array([(j_g - j_r) * s, (i_g - i_r) * s])
            goal = goal + rng.uniform(0, s * 0.25, 2) + rng.uniform(0, 0.5, 2) * 0.25 * s
            goal = np.maximum(goal, 0.0)
            self.maze_env.goal = goal - self.offset
            self.maze_env.update_target_site_pos()
            # Start: D4RL's init state (torso at the start cell) + uniform(-0.1, 0.1) qpos, 0.1 N(0,1) qvel noise.
            qpos = self.ant.init_qpos.copy()
            qpos[:2] = -self.offset
            qpos = qpos + rng.uniform(-0.1, 0.1, qpos.shape)
            qvel = self.ant.init_qvel + 0.1 * rng.standard_normal(self.ant.init_qvel.shape)
            self.ant.set_state(qpos, qvel)
            info = dict(info, success=False)
            return self._obs(), info

        def step(self, action):
            a = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
            scaled = np.clip(self._low + (a + 1.0) * 0.5 * (self._high - self._low), self._low, self._high)
            _, reward, terminated, truncated, info = self.env.step(scaled.astype(np.float32))
            obs = self._obs()
            if self.layout is not None:
                reached = bool(np.linalg.norm(obs[:2] - self.d4rl_goal()) <= D4RL_GOAL_RADIUS)
                reward, terminated = float(reached), reached
                info = dict(info, success=reached)
            return obs, float(reward), bool(terminated), bool(truncated), info

    return _D4RLAntMaze


class D4RLAdroit:
    """Marker type; see `make_adroit_env`."""


# Names of the simulator objects each adroit reward reads (the same in D4RL and gymnasium-robotics).
_ADROIT_NAMES = {
    "pen": {"body": ["Object"], "site": ["eps_ball", "object_top", "object_bottom", "target_top", "target_bottom"]},
    "door": {"joint": ["door_hinge"], "site": ["S_grasp", "S_handle"]},
    "hammer": {"body": ["Object"], "site": ["S_grasp", "tool", "S_target", "nail_goal"]},
    "relocate": {"body": ["Object"], "site": ["S_grasp", "target"]},
}


@functools.cache
def _adroit_wrapper_class():
    import gymnasium
    import mujoco

    kinds = {"body": mujoco.mjtObj.mjOBJ_BODY, "site": mujoco.mjtObj.mjOBJ_SITE, "joint": mujoco.mjtObj.mjOBJ_JOINT}

    class _D4RLAdroit(gymnasium.Wrapper, D4RLAdroit):
        """D4RL's adroit reward (dense + bonuses), pen's termination when the pen falls, goal_achieved."""

        def __init__(self, env, task: str):
            super().__init__(env)
            self.task = task
            model = env.unwrapped.model
            self.ids = {name: mujoco.mj_name2id(model, kinds[kind], name)
                        for kind, names in _ADROIT_NAMES[task].items() for name in names}
            self.pen_length = self.tar_length = 1.0

        def reset(self, *, seed=None, options=None):
            obs, info = self.env.reset(seed=seed, options=options)
            if self.task == "pen":
                d, i = self.env.unwrapped.data, self.ids
                self.pen_length = np.linalg.norm(d.site_xpos[i["object_top"]] - d.site_xpos[i["object_bottom"]])
                self.tar_length = np.linalg.norm(d.site_xpos[i["target_top"]] - d.site_xpos[i["target_bottom"]])
            return obs, info

        def step(self, action):
            obs, _, terminated, truncated, info = self.env.step(action)
            reward, done, achieved = getattr(self, f"_{self.task}")(self.env.unwrapped)
            info = dict(info, success=achieved, goal_achieved=achieved)
            return obs, float(reward), bool(terminated or done), bool(truncated), info

        def _pen(self, env):
            d, i = env.data, self.ids
            obj_pos = d.xpos[i["Object"]]
            dist = np.linalg.norm(obj_pos - d.site_xpos[i["eps_ball"]])
            obj_orien = (d.site_xpos[i["object_top"]] - d.site_xpos[i["object_bottom"]]) / self.pen_length
            tar_orien = (d.site_xpos[i["target_top"]] - d.site_xpos[i["target_bottom"]]) / self.tar_length
            similarity = float(np.dot(obj_orien, tar_orien))
            reward = -dist + similarity
            reward += 10.0 * (dist < 0.075 and similarity > 0.9) + 50.0 * (dist < 0.075 and similarity > 0.95)
            dropped = bool(obj_pos[2] < 0.075)
            reward -= 5.0 * dropped
            return reward, dropped, bool(dist < 0.075 and similarity > 0.95)

        def _door(self, env):
            d, m, i = env.data, env.model, self.ids
            door = float(d.qpos[m.jnt_dofadr[i["door_hinge"]]])
            reward = -0.1 * np.linalg.norm(d.site_xpos[i["S_grasp"]] - d.site_xpos[i["S_handle"]])
            reward += -0.1 * (door - 1.57) ** 2 - 1e-5 * float(np.sum(d.qvel ** 2))
            reward += 2.0 * (door > 0.2) + 8.0 * (door > 1.0) + 10.0 * (door > 1.35)
            return reward, False, door >= 1.35

        def _hammer(self, env):
            d, i = env.data, self.ids
            obj_pos, tool_pos = d.xpos[i["Object"]], d.site_xpos[i["tool"]]
            nail_goal = np.linalg.norm(d.site_xpos[i["S_target"]] - d.site_xpos[i["nail_goal"]])
            reward = -0.1 * np.linalg.norm(d.site_xpos[i["S_grasp"]] - obj_pos)
            reward -= np.linalg.norm(tool_pos - d.site_xpos[i["S_target"]]) + 10.0 * nail_goal
            reward -= 1e-2 * np.linalg.norm(d.qvel)
            reward += 2.0 * (obj_pos[2] > 0.04 and tool_pos[2] > 0.04)
            reward += 25.0 * (nail_goal < 0.02) + 75.0 * (nail_goal < 0.01)
            return reward, False, bool(nail_goal < 0.01)

        def _relocate(self, env):
            d, i = env.data, self.ids
            obj_pos, palm, target = d.xpos[i["Object"]], d.site_xpos[i["S_grasp"]], d.site_xpos[i["target"]]
            to_target = np.linalg.norm(obj_pos - target)
            reward = -0.1 * np.linalg.norm(palm - obj_pos)
            if obj_pos[2] > 0.04:
                reward += 1.0 - 0.5 * np.linalg.norm(palm - target) - 0.5 * to_target
            reward += 10.0 * (to_target < 0.1) + 20.0 * (to_target < 0.05)
            return reward, False, bool(to_target < 0.1)

    return _D4RLAdroit


def make_antmaze_env(task_name: str, ant_model: str = "d4rl"):
    """One AntMaze env in D4RL's form (see the module docstring): 29-dim observations, actions in [-1, 1]."""
    spec = d4rl_spec(task_name)
    gymnasium = _gymnasium_robotics()
    if ant_model not in ("d4rl", "gymnasium"):
        raise ValueError(f"ant_model must be 'd4rl' or 'gymnasium', not {ant_model!r}")
    layout = ANTMAZE_MAPS[spec.env]
    kwargs = {"maze_map": gymnasium_maze_map(layout), "continuing_task": False, "reset_target": False,
              "include_cfrc_ext_in_observation": False, "max_episode_steps": spec.episode_limit,
              "disable_env_checker": True}
    if ant_model == "d4rl":
        kwargs["xml_file"] = d4rl_ant_xml()
    return _antmaze_wrapper_class()(gymnasium.make(spec.gym_id, **kwargs), layout)


def make_adroit_env(task_name: str):
    """One AdroitHand*-v1 env with D4RL's reward, termination, success flag and episode limit."""
    spec = d4rl_spec(task_name)
    gymnasium = _gymnasium_robotics()
    env = gymnasium.make(spec.gym_id, max_episode_steps=spec.episode_limit, disable_env_checker=True)
    return _adroit_wrapper_class()(env, spec.env)


def make_minari_antmaze_env(task_name: str, env_spec):
    """The Minari dataset's own evaluation AntMaze (its frame, start, goal and ant), as 29-dim observations."""
    spec = d4rl_spec(task_name)
    gymnasium = _gymnasium_robotics()
    if env_spec is None:
        raise DataError(f"the Minari dataset of {task_name} records no environment; use route='hdf5'")
    kwargs = {"continuing_task": False, "reset_target": False}
    env = gymnasium.make(env_spec, max_episode_steps=spec.episode_limit, disable_env_checker=True, **kwargs)
    return _antmaze_wrapper_class()(env, None)


def make_d4rl_env(task_name: str, num_envs: int, route: str = "hdf5", ant_model: str = "d4rl",
                  minari_env_spec=None, workers: int | None = None):
    """`num_envs` D4RL-form environments of the task as one batched env (drol.evaluate.batched_env: spread
    over worker processes where there are cores)."""
    from drol.evaluate import batched_env

    spec = d4rl_spec(task_name)
    return batched_env(functools.partial(_make_one, task_name, spec.domain, route, ant_model, minari_env_spec),
                       num_envs, workers, success_key="success", max_episode_steps=spec.episode_limit)


def _make_one(task_name: str, domain: str, route: str, ant_model: str, minari_env_spec):
    if domain == "adroit":
        return make_adroit_env(task_name)
    if route == "minari":
        return make_minari_antmaze_env(task_name, minari_env_spec)
    return make_antmaze_env(task_name, ant_model)
