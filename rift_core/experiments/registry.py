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
the run spec override the alias's). A factory with a ``root`` parameter is given
the results folder, so that it can load files stored there (the value-gap
supervisor's expert, ``ROOT/priors/TASK/sac.expert.pt``).
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


def make_supervisor(name: str, *, root=None, **params):
    """The registered supervisor ``name`` built with ``params`` (and the results folder ``root``, for a factory
    that takes one); unknown names and parameters are clear errors."""
    if name not in SUPERVISORS:
        raise ValueError(f"supervisor is {name!r}, expected one of {sorted(SUPERVISORS)}")
    factory = SUPERVISORS[name]
    if "root" in inspect.signature(factory).parameters:
        params = {**params, "root": root}
    try:
        inspect.signature(factory).bind(**params)
    except TypeError as e:
        raise ValueError(f"supervisor {name!r}: bad parameters {params} ({e})") from None
    return factory(**params)


def resolve_supervisor(task: str, name: str, params: Mapping | None = None) -> tuple[str, dict]:
    """``(registered name, parameters)`` of ``name`` on ``task``: a task alias, or a registered supervisor."""
    params = dict(params or {})
    if "root" in params:
        raise ValueError(f"supervisor {name!r}: 'root' is the results folder, not a parameter")
    alias = TASKS[task].supervisors.get(name) if task in TASKS else None
    if alias is not None:
        return alias[0], {**dict(alias[1]), **params}
    if name not in SUPERVISORS:
        aliases = sorted(TASKS[task].supervisors) if task in TASKS else []
        raise ValueError(f"supervisor is {name!r}, expected an alias of task {task!r} {aliases} "
                         f"or a registered supervisor {sorted(SUPERVISORS)}")
    return name, params


def make_env(task: str, supervisor: str = "never", supervisor_kwargs: Mapping | None = None,
             env_kwargs: Mapping | None = None, semantics: str = "terminate", root=None):
    """``EStop(RescaleAction(gym.make(env_id, **kwargs)), supervisor)`` for a registered task (``root``: the
    results folder, for supervisors that load files from it)."""
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
    return EStop(env, make_supervisor(name, root=root, **params), semantics)


def _register_builtins() -> None:
    from ..neural import estop

    register_supervisor("never", estop.NeverStop)
    register_supervisor("random", estop.RandomSupervisor)
    register_supervisor("point_nav_safety", estop.point_nav_safety)
    register_supervisor("hopper_safety", estop.hopper_safety)
    register_supervisor("half_cheetah_safety", estop.half_cheetah_safety)
    register_supervisor("inverted_pendulum_safety", estop.inverted_pendulum_safety)

    @register_supervisor("noisy")
    def noisy(base: str, fp: float, fn: float, root=None, **base_params):
        """``base`` (a registered supervisor with ``base_params``) with false positives ``fp`` and misses ``fn``."""
        return estop.Noisy(make_supervisor(base, root=root, **base_params), fp=fp, fn=fn)

    @register_supervisor("value_gap")
    def value_gap(expert: str, delta: float, still: float | None = 1e-3, root=None):
        """RLIF-style stops: the expert saved at ``ROOT/EXPERT`` (:func:`~rift_core.neural.save_expert`, made by
        ``prior --source sac``) stops an action whose value falls more than ``delta`` below its own action's."""
        from pathlib import Path

        from ..neural import load_expert, value_gap_from_expert

        path = Path(expert) if Path(expert).is_absolute() or root is None else Path(root) / expert
        if not path.exists():
            raise FileNotFoundError(f"value_gap: no expert file {path} (make one with: python -m rift_core.experiments "
                                    f"prior --source sac --name sac ...)")
        return value_gap_from_expert(*load_expert(path), delta=delta, still=still)

    @register_supervisor("delayed")
    def delayed(base: str, k: int, root=None, **base_params):
        """``base``'s stops arriving ``k`` steps late."""
        return estop.Delayed(make_supervisor(base, root=root, **base_params), k)

    # each task's "noisy" alias: its safety supervisor missing 30% of stops, with false stops on a share of the
    # moving steps: 0.5% on PointNav (short episodes), 0.05% on MuJoCo, where 1,000-step episodes would otherwise
    # end in a false stop after about 200 steps whatever the policy did
    register_task("point_nav", "rift/PointNav-v0", rescale_actions=False,
                  supervisors={"safety": ("point_nav_safety", {"margin": 0.1}),
                               "noisy": ("noisy", {"base": "point_nav_safety", "fp": 0.005, "fn": 0.3, "margin": 0.1})})
    # each MuJoCo task's "value_gap" alias: the project's own SAC expert (prior --source sac --name sac) stops an
    # action worth more than delta less than its own; delta is the 99.9% quantile of the expert's own gaps
    # (expert_value_gaps, 5 episodes, seed 0) to two significant digits, so the expert itself is rarely stopped
    mujoco = {"hopper": ("Hopper-v5", "hopper_safety", {"margin": 0.1}, 1.7),
              "half_cheetah": ("HalfCheetah-v5", "half_cheetah_safety", {"max_pitch": 1.0, "margin": 0.1}, 1.9)}
    for task, (env_id, safety, params, delta) in mujoco.items():
        register_task(task, env_id, supervisors={
            "safety": (safety, params),
            "noisy": ("noisy", {"base": safety, "fp": 0.0005, "fn": 0.3, **params}),
            "value_gap": ("value_gap", {"expert": f"priors/{task}/sac.expert.pt", "delta": delta})})
    register_task("inverted_pendulum", "InvertedPendulum-v5",
                  supervisors={"safety": ("inverted_pendulum_safety", {"max_angle": 0.15, "max_position": 0.7})})


_register_builtins()
