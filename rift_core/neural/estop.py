r"""E-stops for Gymnasium environments: the :class:`EStop` wrapper and supervisors.

A supervisor is a callable ``supervisor(obs, action, next_obs, info) -> bool``:
shown the step the agent is about to take (simulated: the wrapper steps the
environment and shows the outcome), it says whether to press the button. It
may carry state across an episode (:class:`Delayed`), reset by ``reset()``.

:class:`EStop` turns any environment into the learner's view of it:

- on a stop, ``terminated=True`` and the learner's reward is ``-1`` (semantics
  ``"terminate"``), or, with ``"truncate"``, the step is undone (the
  environment's state is restored: it must offer ``get_state``/``set_state``),
  the learner's reward is ``-1`` and the episode goes on;
- otherwise the learner's reward is ``0`` and the environment's own
  ``terminated``/``truncated`` pass through (a time limit stays a truncation,
  which a learner must bootstrap through);
- ``info["task_reward"]`` is the hidden task reward of the step (0 on a stop,
  which pre-empts the action), ``info["stopped"]`` and ``info["stop_reason"]``
  say whether and why the button was pressed.

Supervisors fail closed: a non-finite observation, action or next observation
is a stop (the wrapper checks before consulting the supervisor, so a user's
own supervisor fails closed too), as is a non-finite clearance or value gap.
"""

from __future__ import annotations

from collections import deque
from typing import Callable

import gymnasium as gym
import numpy as np

__all__ = ["EStop", "Supervisor", "FunctionSupervisor", "NeverStop", "SafetySupervisor", "ValueGapSupervisor",
           "RandomSupervisor", "Noisy", "Delayed", "point_nav_safety", "hopper_safety", "half_cheetah_safety",
           "inverted_pendulum_safety", "SUPERVISOR_STREAM"]

# EStop seeds the supervisor's stream with SeedSequence([seed, SUPERVISOR_STREAM]), never with the environment's seed
# alone (which would repeat the environment's own random stream).
SUPERVISOR_STREAM = 0x5E7E5



class Supervisor:
    """Base class: ``__call__(obs, action, next_obs, info) -> bool``; ``reason`` names the last stop; ``reset()`` per episode."""

    reason: str = ""

    def __call__(self, obs, action, next_obs, info) -> bool:  # pragma: no cover - interface
        raise NotImplementedError

    def reset(self, rng: np.random.Generator) -> None:
        """Start of an episode; stochastic supervisors take their randomness from ``rng``."""
        self.rng = rng


class FunctionSupervisor(Supervisor):
    """A plain function ``stop(obs, action, next_obs, info) -> bool`` as a supervisor (what :class:`EStop` makes of
    a callable that is not a :class:`Supervisor`)."""

    def __init__(self, fn: Callable, name: str | None = None):
        if not callable(fn):
            raise TypeError(f"supervisor must be callable, got {type(fn).__name__}")
        self.fn, self.name = fn, name or getattr(fn, "__name__", "supervisor")

    def __call__(self, obs, action, next_obs, info) -> bool:
        if self.fn(obs, action, next_obs, info):
            self.reason = self.name
            return True
        return False


class NeverStop(Supervisor):
    """Nobody at the button: never stops (the unsupervised task, and the training of priors)."""

    def __call__(self, obs, action, next_obs, info) -> bool:
        return False


def _nonfinite(name: str, x) -> str | None:
    x = np.asarray(x, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(x.ravel()))
    return f"fail-closed: non-finite {name}[{bad[0]}] = {x.ravel()[bad[0]]}" if bad.size else None


class SafetySupervisor(Supervisor):
    """Stop when ``danger(next_obs, info)`` is within ``margin`` of the danger set: ``danger <= margin``.

    ``danger`` returns a signed clearance (negative inside the danger set). Necessary
    for good behaviour, not sufficient: standing clear of danger is never stopped.
    """

    def __init__(self, clearance: Callable, margin: float, name: str):
        self.clearance, self.margin, self.name = clearance, float(margin), name

    def __call__(self, obs, action, next_obs, info) -> bool:
        c = float(self.clearance(next_obs, info))
        if not np.isfinite(c):
            self.reason = f"fail-closed: {self.name}: non-finite clearance {c}"
            return True
        if c <= self.margin:
            self.reason = f"{self.name}: clearance {c:.3f} <= margin {self.margin:g}"
            return True
        return False


class ValueGapSupervisor(Supervisor):
    r"""Precise, RLIF-style stops judged by an expert critic: stop when
    ``Q*(s, pi*(s)) - Q*(s, a) > delta``.

    ``q(obs, action) -> float`` is the expert's action value and
    ``best_action(obs)`` its greedy action; :func:`rift_core.neural.value_gap_from_expert` builds both
    from a saved expert and :func:`rift_core.neural.value_gap_from_trainer` from a trained
    :class:`~rift_core.neural.Trainer` (e.g. the ``oracle``). Actions with norm below ``still`` count as
    standing still and are never stopped (``None``: judge every action).
    """

    def __init__(self, q: Callable, best_action: Callable, delta: float, still: float | None = 1e-3):
        if not (isinstance(delta, (int, float, np.floating)) and np.isfinite(delta) and delta >= 0):
            raise ValueError(f"delta is {delta!r}, expected a finite number >= 0")
        if still is not None and not (np.isfinite(still) and still >= 0):
            raise ValueError(f"still is {still!r}, expected a finite number >= 0 or None")
        self.q, self.best_action, self.delta, self.still = q, best_action, float(delta), still

    def __call__(self, obs, action, next_obs, info) -> bool:
        bad = _nonfinite("observation", obs) or _nonfinite("action", action)
        if bad:
            self.reason = bad
            return True
        if self.still is not None and np.linalg.norm(action) < self.still:
            return False
        gap = self.q(obs, self.best_action(obs)) - self.q(obs, action)
        if not np.isfinite(gap):
            self.reason = f"fail-closed: non-finite value gap {gap}"
            return True
        if gap > self.delta:
            self.reason = f"value gap {gap:.3f} > delta {self.delta:g}"
            return True
        return False


class RandomSupervisor(Supervisor):
    """Stop each moving step with probability ``p`` (uninformative; RLIF's random interventions).
    Actions with norm below ``still`` count as standing still and are never stopped."""

    def __init__(self, p: float, still: float = 1e-3):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p is {p}, expected a probability in [0, 1]")
        self.p, self.still = float(p), float(still)
        self.rng = np.random.default_rng(0)

    def __call__(self, obs, action, next_obs, info) -> bool:
        if np.linalg.norm(action) < self.still:
            return False
        if self.rng.uniform() < self.p:
            self.reason = f"random(p={self.p:g})"
            return True
        return False


class Noisy(Supervisor):
    """``base`` with each decision flipped: a stop missed with probability ``fn``, a false stop with ``fp``
    (never on a step that stands still, when ``still`` is given)."""

    def __init__(self, base: Supervisor, fp: float, fn: float, still: float | None = 1e-3):
        for name, v in (("fp", fp), ("fn", fn)):
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} is {v}, expected a probability in [0, 1]")
        self.base, self.fp, self.fn, self.still = base, float(fp), float(fn), still
        self.rng = np.random.default_rng(0)

    def reset(self, rng):
        self.rng = rng
        self.base.reset(rng)

    def __call__(self, obs, action, next_obs, info) -> bool:
        stop = self.base(obs, action, next_obs, info)
        if stop and self.rng.uniform() < self.fn:
            return False
        if not stop and self.rng.uniform() < self.fp and (self.still is None or np.linalg.norm(action) >= self.still):
            self.reason = f"false positive (fp={self.fp:g})"
            return True
        self.reason = self.base.reason
        return stop


class Delayed(Supervisor):
    """``base``'s stops arriving ``k`` steps after the step that triggered them."""

    def __init__(self, base: Supervisor, k: int):
        if int(k) < 0:
            raise ValueError(f"k is {k}, expected an integer >= 0")
        self.base, self.k = base, int(k)
        self.queue: deque = deque([False] * self.k)  # queue[j]: a stop arriving j steps from now

    def reset(self, rng):
        self.base.reset(rng)
        self.queue = deque([False] * self.k)

    def __call__(self, obs, action, next_obs, info) -> bool:
        self.queue.append(self.base(obs, action, next_obs, info))
        if self.queue.popleft():
            self.reason = f"delayed({self.base.reason}, k={self.k})"
            return True
        return False


def inverted_pendulum_safety(max_angle: float = 0.15, max_position: float = 0.7) -> SafetySupervisor:
    """InvertedPendulum-v5: stop when the pole's angle ``|obs[1]|`` nears ``max_angle`` rad or the cart's position
    ``|obs[0]|`` nears ``max_position`` (the environment itself ends the episode at an angle of 0.2)."""
    return SafetySupervisor(lambda obs, info: min(max_angle - abs(obs[1]), max_position - abs(obs[0])), 0.0,
                            "pendulum")


def point_nav_safety(margin: float = 0.1) -> SafetySupervisor:
    """PointNav: stop a step that ends within ``margin`` of an obstacle (observation entries 4: are the clearances).

    A step moves at most ``dt sqrt(2)`` (0.071 by default), so a margin above that stops every approach before contact.
    """
    return SafetySupervisor(lambda obs, info: float(np.min(obs[4:])), margin, "obstacle")


def hopper_safety(margin: float = 0.1) -> SafetySupervisor:
    """Hopper-v5: stop before a fall, i.e. when the torso height nears 0.7 or the tilt nears 0.2 rad.

    Clearance ``min(z - 0.7, 0.2 - |angle|) / scale`` with ``obs[0] = z``, ``obs[1] = angle``
    (the healthy ranges of Hopper-v5); ``margin`` is in units of the range
    (height over 0.5, angle over 0.2).
    """
    return SafetySupervisor(lambda obs, info: min((obs[0] - 0.7) / 0.5, (0.2 - abs(obs[1])) / 0.2), margin, "hopper fall")


def half_cheetah_safety(max_pitch: float = 1.0, margin: float = 0.1) -> SafetySupervisor:
    """HalfCheetah-v5: stop when the body pitches towards a flip, ``|obs[1]|`` nearing ``max_pitch`` rad."""
    return SafetySupervisor(lambda obs, info: (max_pitch - abs(obs[1])) / max_pitch, margin, "cheetah flip")


class EStop(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Wrap ``env`` so that its reward is the learner's e-stop reward (see the module docstring)."""

    def __init__(self, env: gym.Env, supervisor: Supervisor | Callable, semantics: str = "terminate"):
        gym.utils.RecordConstructorArgs.__init__(self, supervisor=supervisor, semantics=semantics)
        if not isinstance(supervisor, Supervisor):
            supervisor = FunctionSupervisor(supervisor)
        gym.Wrapper.__init__(self, env)
        if semantics not in ("terminate", "truncate"):
            raise ValueError(f"semantics is {semantics!r}, expected 'terminate' or 'truncate'")
        if semantics == "truncate" and not (hasattr(env.unwrapped, "get_state") or hasattr(env.unwrapped, "set_state")):
            raise ValueError("semantics 'truncate' needs an environment with get_state/set_state to undo a halted step")
        self.supervisor, self.semantics = supervisor, semantics
        self._obs = None
        self._supervisor_rng = None

    def reset(self, *, seed=None, options=None):
        """Reset the environment and the supervisor. With a ``seed``, the supervisor's stream is
        ``SeedSequence([seed, SUPERVISOR_STREAM])``, separate from the environment's; without one it continues."""
        obs, info = self.env.reset(seed=seed, options=options)
        if seed is not None or self._supervisor_rng is None:
            self._supervisor_rng = np.random.default_rng(None if seed is None else [int(seed), SUPERVISOR_STREAM])
        self.supervisor.reset(self._supervisor_rng)
        self._obs = obs
        return obs, info

    def _snapshot(self):
        u = self.env.unwrapped
        if hasattr(u, "get_state"):
            return u.get_state()
        return (u.data.qpos.copy(), u.data.qvel.copy())  # MuJoCo environments

    def _restore(self, state):
        u = self.env.unwrapped
        if hasattr(u, "get_state"):
            u.set_state(state)
        else:
            u.set_state(*state)

    def step(self, action):
        snapshot = self._snapshot() if self.semantics == "truncate" else None
        obs, task_reward, terminated, truncated, info = self.env.step(action)
        info = dict(info)
        failed = _nonfinite("observation", self._obs) or _nonfinite("action", action) or _nonfinite("next_obs", obs)
        stop = True if failed else bool(self.supervisor(self._obs, action, obs, info))
        info["stopped"] = stop
        info["stop_reason"] = (failed or self.supervisor.reason) if stop else ""
        if stop:
            info["task_reward"] = 0.0  # the stop pre-empts the action
            if self.semantics == "terminate":
                self._obs = obs
                return obs, -1.0, True, truncated, info
            self._restore(snapshot)
            return self._obs, -1.0, False, truncated, info
        info["task_reward"] = float(task_reward)
        self._obs = obs
        return obs, 0.0, terminated, truncated, info
