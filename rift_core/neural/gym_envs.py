r"""A fast 2-D point-navigation task with obstacles, as a Gymnasium environment.

The agent is a point in the square ``[-1, 1]^2`` that moves by its action, a
velocity in ``[-1, 1]^2`` scaled by ``dt``. It starts near ``(-0.8, -0.8)``; the
goal is a disc around ``(0.8, 0.8)``; circular obstacles sit in between. The
task reward per step is the progress made towards the goal (decrease of the
distance to it), plus ``goal_bonus`` on arrival, which ends the episode
(``terminated``); touching an obstacle costs ``collision_cost`` and also ends it.
Episodes are cut after ``max_steps`` (``truncated``).

Observation: ``(x, y, goal_x - x, goal_y - y, d_1, ..., d_K)`` with ``d_k`` the
signed distance to obstacle ``k``'s edge. Standing still (action 0) is never
dangerous, and no supervisor of this project stops it.

:class:`PointNavVectorEnv` steps ``num_envs`` copies at once in numpy (no Python
loop per copy), for fast data collection.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

__all__ = ["PointNavEnv", "PointNavVectorEnv", "OBSTACLES"]

#: The default obstacles, one row (centre x, centre y, radius) each. The first two sit 0.26 from the start-goal
#: diagonal with radius 0.2, so the straight route passes 0.06 from each: allowed, but inside a
#: safety margin of 0.1. The third blocks a wide detour.
OBSTACLES = np.array([[-0.216, -0.584, 0.2], [0.216, 0.584, 0.2], [-0.6, 0.3, 0.2]])


class _PointNavCore:
    """The dynamics, shared by the single and the vectorised environment (positions ``(n, 2)``)."""

    def __init__(self, dt=0.05, max_steps=200, goal=(0.8, 0.8), goal_radius=0.12, goal_bonus=1.0,
                 collision_cost=1.0, obstacles=OBSTACLES, start=(-0.8, -0.8), start_noise=0.05):
        self.dt, self.max_steps = float(dt), int(max_steps)
        self.goal = np.asarray(goal, dtype=np.float64)
        self.goal_radius, self.goal_bonus, self.collision_cost = float(goal_radius), float(goal_bonus), float(collision_cost)
        self.obstacles = np.asarray(obstacles, dtype=np.float64).reshape(-1, 3)
        self.start, self.start_noise = np.asarray(start, dtype=np.float64), float(start_noise)
        K = len(self.obstacles)
        # positions lie in [-1, 1]^2, so every coordinate and distance lies in [-3, 3]
        self.observation_space = spaces.Box(-3.0, 3.0, shape=(4 + K,), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)

    def obstacle_distance(self, pos: np.ndarray) -> np.ndarray:
        """Signed distance from each position to each obstacle's edge, shape ``(n, K)`` (negative inside)."""
        d = np.linalg.norm(pos[:, None, :] - self.obstacles[None, :, :2], axis=2)
        return d - self.obstacles[None, :, 2]

    def observe(self, pos: np.ndarray) -> np.ndarray:
        return np.concatenate([pos, self.goal - pos, self.obstacle_distance(pos)], axis=1).astype(np.float32)

    def reset_positions(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.start + self.start_noise * rng.uniform(-1, 1, size=(n, 2))

    def step(self, pos: np.ndarray, action: np.ndarray):
        action = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        new = np.clip(pos + self.dt * action, -1.0, 1.0)
        before = np.linalg.norm(self.goal - pos, axis=1)
        after = np.linalg.norm(self.goal - new, axis=1)
        collided = (self.obstacle_distance(new) < 0).any(axis=1)
        reached = (after <= self.goal_radius) & ~collided
        reward = (before - after) + self.goal_bonus * reached - self.collision_cost * collided
        return new, reward, reached | collided, reached, collided


class PointNavEnv(gym.Env):
    """Single-copy point navigation (see the module docstring); registered as ``rift/PointNav-v0``."""

    metadata = {"render_modes": []}

    def __init__(self, **kwargs):
        self.core = _PointNavCore(**kwargs)
        self.observation_space = self.core.observation_space
        self.action_space = self.core.action_space
        self._pos = np.zeros((1, 2))
        self._t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._pos = self.core.reset_positions(self.np_random, 1)
        self._t = 0
        return self.core.observe(self._pos)[0], {}

    def step(self, action):
        new, reward, done, reached, collided = self.core.step(self._pos, np.asarray(action)[None])
        self._pos = new
        self._t += 1
        info = {"reached_goal": bool(reached[0]), "collided": bool(collided[0]), "position": new[0].copy()}
        return self.core.observe(new)[0], float(reward[0]), bool(done[0]), self._t >= self.core.max_steps, info

    # state access, for the truncate stop semantics (halt: undo the step)
    def get_state(self):
        return (self._pos.copy(), self._t)

    def set_state(self, state):
        self._pos, self._t = state[0].copy(), state[1]


class PointNavVectorEnv(gym.vector.VectorEnv):
    """``num_envs`` copies stepped together in numpy, with Gymnasium's next-step autoreset."""

    metadata = {"autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int, **kwargs):
        self.core = _PointNavCore(**kwargs)
        self.num_envs = int(num_envs)
        self.single_observation_space = self.core.observation_space
        self.single_action_space = self.core.action_space
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, self.num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, self.num_envs)
        self._pos = np.zeros((self.num_envs, 2))
        self._t = np.zeros(self.num_envs, dtype=int)
        self._needs_reset = np.zeros(self.num_envs, dtype=bool)
        self._rng = np.random.default_rng()

    def reset(self, *, seed=None, options=None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self._pos = self.core.reset_positions(self._rng, self.num_envs)
        self._t[:] = 0
        self._needs_reset[:] = False
        return self.core.observe(self._pos), {}

    def step(self, actions):
        restart = self._needs_reset
        new, reward, terminated, reached, collided = self.core.step(self._pos, actions)
        self._t += 1
        truncated = self._t >= self.core.max_steps
        if restart.any():  # NEXT_STEP autoreset: the step after an episode's end only resets it
            new[restart] = self.core.reset_positions(self._rng, int(restart.sum()))
            reward[restart], terminated[restart], truncated[restart] = 0.0, False, False
            self._t[restart] = 0
        self._pos = new
        self._needs_reset = terminated | truncated
        info = {"reached_goal": reached & ~restart, "collided": collided & ~restart}
        return self.core.observe(new), reward, terminated, truncated, info


if "rift/PointNav-v0" not in gym.registry:
    gym.register(id="rift/PointNav-v0", entry_point=PointNavEnv, max_episode_steps=None)
