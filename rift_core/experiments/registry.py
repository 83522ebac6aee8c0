"""Registries of tasks and supervisors: what a run spec names by string.

Register your own in a few lines::

    from rift_core.neural.estop import SafetySupervisor
    from rift_core.experiments import register_supervisor, register_task

    @register_supervisor("cartpole_safety")
    def cartpole_safety(max_angle: float = 0.15):
        return SafetySupervisor(lambda obs, info: max_angle - abs(obs[2]), 0.0, "pole")

    register_task("my_cartpole", "MyCartPole-v0", supervisors={"safety": ("cartpole_safety", {})})

A task's ``supervisors`` are aliases: ``--supervisor safety`` on that task means
the registered supervisor and parameters the alias names (parameters given in
the run spec override the alias's).
"""

from __future__ import annotations

import inspect

import numpy as np
from dataclasses import dataclass, field
from typing import Callable, Mapping

__all__ = ["Task", "register_task", "register_supervisor", "TASKS", "SUPERVISORS", "make_supervisor", "make_env",
           "resolve_supervisor"]

TASKS: dict[str, "Task"] = {}
SUPERVISORS: dict[str, Callable] = {}


@dataclass(frozen=True)
class Task:
    """A registered task: a Gymnasium environment id with its keyword arguments, whether to rescale its actions
    to ``[-1, 1]`` (``gymnasium.wrappers.RescaleAction``), and named supervisor aliases
    ``{alias: (registered supervisor, parameters)}``."""

    name: str
    env_id: str
    env_kwargs: Mapping = field(default_factory=dict)
    rescale_actions: bool = True
    supervisors: Mapping[str, tuple[str, Mapping]] = field(default_factory=dict)


def register_task(name: str, env_id: str, *, env_kwargs: Mapping | None = None, rescale_actions: bool = True,
                  supervisors: Mapping[str, tuple[str, Mapping]] | None = None, overwrite: bool = False) -> Task:
    """Register a task under ``name`` (an error if the name is taken, unless ``overwrite``)."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"task name is {name!r}, expected an identifier")
    if name in TASKS and not overwrite:
        raise ValueError(f"task {name!r} is already registered (pass overwrite=True to replace it)")
    task = Task(name, env_id, dict(env_kwargs or {}), bool(rescale_actions), dict(supervisors or {}))
    TASKS[name] = task
    return task


def register_supervisor(name: str, factory: Callable | None = None, *, overwrite: bool = False):
    """Register ``factory(**params) -> Supervisor`` under ``name``; usable as a decorator."""

    def add(f):
        if name in SUPERVISORS and not overwrite:
            raise ValueError(f"supervisor {name!r} is already registered (pass overwrite=True to replace it)")
        SUPERVISORS[name] = f
        return f

    return add(factory) if factory is not None else add


def make_supervisor(name: str, **params):
    """The registered supervisor ``name`` built with ``params``; unknown names and parameters are clear errors."""
    if name not in SUPERVISORS:
        raise ValueError(f"supervisor is {name!r}, expected one of {sorted(SUPERVISORS)}")
    factory = SUPERVISORS[name]
    try:
        inspect.signature(factory).bind(**params)
    except TypeError as e:
        raise ValueError(f"supervisor {name!r}: bad parameters {params} ({e})") from None
    return factory(**params)


def resolve_supervisor(task: str, name: str, params: Mapping | None = None) -> tuple[str, dict]:
    """``(registered name, parameters)`` of ``name`` on ``task``: a task alias, or a registered supervisor."""
    params = dict(params or {})
    alias = TASKS[task].supervisors.get(name) if task in TASKS else None
    if alias is not None:
        return alias[0], {**dict(alias[1]), **params}
    if name not in SUPERVISORS:
        aliases = sorted(TASKS[task].supervisors) if task in TASKS else []
        raise ValueError(f"supervisor is {name!r}, expected an alias of task {task!r} {aliases} "
                         f"or a registered supervisor {sorted(SUPERVISORS)}")
    return name, params


def make_env(task: str, supervisor: str = "never", supervisor_kwargs: Mapping | None = None,
             env_kwargs: Mapping | None = None, semantics: str = "terminate"):
    """``EStop(RescaleAction(gym.make(env_id, **kwargs)), supervisor)`` for a registered task."""
    import gymnasium as gym

    from ..neural import gym_envs  # noqa: F401  (registers rift/PointNav-v0)
    from ..neural.estop import EStop

    if task not in TASKS:
        raise ValueError(f"task is {task!r}, expected one of {sorted(TASKS)}")
    t = TASKS[task]
    env = gym.make(t.env_id, **{**dict(t.env_kwargs), **dict(env_kwargs or {})})
    if t.rescale_actions:
        env = gym.wrappers.RescaleAction(env, np.float32(-1.0), np.float32(1.0))
    name, params = resolve_supervisor(task, supervisor, supervisor_kwargs)
    return EStop(env, make_supervisor(name, **params), semantics)


def _register_builtins() -> None:
    from ..neural import estop

    register_supervisor("never", estop.NeverStop)
    register_supervisor("random", estop.RandomSupervisor)
    register_supervisor("point_nav_safety", estop.point_nav_safety)
    register_supervisor("hopper_safety", estop.hopper_safety)
    register_supervisor("half_cheetah_safety", estop.half_cheetah_safety)
    register_supervisor("inverted_pendulum_safety", estop.inverted_pendulum_safety)

    @register_supervisor("noisy")
    def noisy(base: str, fp: float, fn: float, **base_params):
        """``base`` (a registered supervisor with ``base_params``) with false positives ``fp`` and misses ``fn``."""
        return estop.Noisy(make_supervisor(base, **base_params), fp=fp, fn=fn)

    @register_supervisor("delayed")
    def delayed(base: str, k: int, **base_params):
        """``base``'s stops arriving ``k`` steps late."""
        return estop.Delayed(make_supervisor(base, **base_params), k)

    # each task's "noisy" alias: its safety supervisor missing 30% of stops, with false stops on 0.5% of moving steps
    register_task("point_nav", "rift/PointNav-v0", rescale_actions=False,
                  supervisors={"safety": ("point_nav_safety", {"margin": 0.1}),
                               "noisy": ("noisy", {"base": "point_nav_safety", "fp": 0.005, "fn": 0.3, "margin": 0.1})})
    register_task("hopper", "Hopper-v5", supervisors={"safety": ("hopper_safety", {"margin": 0.1}),
                                                      "noisy": ("noisy", {"base": "hopper_safety", "fp": 0.005,
                                                                          "fn": 0.3, "margin": 0.1})})
    register_task("half_cheetah", "HalfCheetah-v5",
                  supervisors={"safety": ("half_cheetah_safety", {"max_pitch": 1.0, "margin": 0.1}),
                               "noisy": ("noisy", {"base": "half_cheetah_safety", "fp": 0.005, "fn": 0.3,
                                                   "max_pitch": 1.0, "margin": 0.1})})
    register_task("inverted_pendulum", "InvertedPendulum-v5",
                  supervisors={"safety": ("inverted_pendulum_safety", {"max_angle": 0.15, "max_position": 0.7})})


_register_builtins()
