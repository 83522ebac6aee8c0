"""Evaluate any policy on an e-stop environment: task return, stops, lengths, stop reasons, unsupervised return."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import numpy as np
import torch

__all__ = ["Evaluation", "evaluate"]


@dataclass
class Evaluation:
    """Per-episode results of :func:`evaluate` (arrays of length ``episodes``).

    task_return: hidden task return under supervision; stops: e-stops per episode; length: steps per
    episode; stop_reasons: the supervisor's ``stop_reason`` of each stop, per episode;
    unsupervised_return: task return with nobody pressing the button (``None`` unless asked for).
    """

    task_return: np.ndarray
    stops: np.ndarray
    length: np.ndarray
    stop_reasons: list[list[str]] = field(default_factory=list)
    unsupervised_return: np.ndarray | None = None

    @property
    def stops_per_1000_steps(self) -> float:
        return 1000.0 * float(self.stops.sum()) / max(int(self.length.sum()), 1)

    def summary(self) -> dict:
        """Means over episodes, stops per 1,000 steps and the episode count."""
        out = {"episodes": len(self.task_return), "task_return": float(self.task_return.mean()),
               "stops": float(self.stops.mean()), "length": float(self.length.mean()),
               "stops_per_1000_steps": self.stops_per_1000_steps}
        if self.unsupervised_return is not None:
            out["unsupervised_return"] = float(self.unsupervised_return.mean())
        return out

    def as_dict(self) -> dict:
        """Plain JSON-ready values: the summary and every per-episode list."""
        out = {**self.summary(), "task_returns": self.task_return.tolist(), "stop_counts": self.stops.tolist(),
               "lengths": self.length.tolist(), "stop_reasons": self.stop_reasons}
        if self.unsupervised_return is not None:
            out["unsupervised_returns"] = self.unsupervised_return.tolist()
        return out


def _estop_layer(env):
    from .estop import EStop

    e = env
    while True:
        if isinstance(e, EStop):
            return e
        if not hasattr(e, "env"):
            raise TypeError(f"evaluate needs an environment wrapped in rift_core.neural.estop.EStop, got {env}")
        e = e.env


def _predictor(policy, deterministic: bool, seed: int):
    """``obs -> action`` for a trainer, a rift_core policy, or anything with ``predict(obs, deterministic)``."""
    predict = getattr(policy, "predict", None)
    if predict is None:
        raise TypeError(f"policy must have predict(obs, deterministic), got {type(policy).__name__}")
    kwargs = {"deterministic": deterministic}
    if "generator" in inspect.signature(predict).parameters:  # rift_core policies: a seeded stream of our own
        kwargs["generator"] = torch.Generator().manual_seed(seed)

    def act(obs):
        out = predict(obs, **kwargs)
        return out[0] if isinstance(out, tuple) else out

    return act


def _episode(env, act, seed: int, estop) -> tuple[float, int, int, list[str]]:
    obs, _ = env.reset(seed=seed)
    total, stops, length, reasons = 0.0, 0, 0, []
    while True:
        obs, _, term, trunc, info = env.step(act(obs))
        total += float(info["task_reward"])
        length += 1
        if info["stopped"]:
            stops += 1
            reasons.append(str(info["stop_reason"]))
        if term or trunc:
            return total, stops, length, reasons


def evaluate(policy, env, episodes: int = 10, seed: int = 0, deterministic: bool = False,
             unsupervised: bool = False) -> Evaluation:
    """Run ``episodes`` episodes of ``policy`` on ``env`` (wrapped in :class:`~rift_core.neural.estop.EStop`).

    Episode ``i`` is reset with seed ``seed + i``, so two policies evaluated with
    the same ``seed`` meet the same start states. ``policy`` is a
    :class:`~rift_core.neural.Trainer`, a policy from
    :func:`~rift_core.neural.load_policy`, or anything with
    ``predict(obs, deterministic)`` returning an action (or ``(action, state)``,
    as Stable-Baselines3 does) in ``env``'s action space. With
    ``unsupervised=True`` the same episodes are run again with the supervisor
    replaced by :class:`~rift_core.neural.estop.NeverStop`: the learned policy's task
    return with nobody pressing the button.
    """
    import operator

    from .estop import NeverStop

    try:
        episodes, seed = operator.index(episodes), operator.index(seed)
    except TypeError:
        raise TypeError(f"episodes and seed must be integers, got {episodes!r} and {seed!r}") from None
    if episodes < 1 or seed < 0:
        raise ValueError(f"episodes is {episodes} and seed {seed}: expected episodes >= 1 and seed >= 0")
    estop = _estop_layer(env)
    act = _predictor(policy, deterministic, seed)
    rows = [_episode(env, act, seed + i, estop) for i in range(episodes)]
    result = Evaluation(np.array([r[0] for r in rows]), np.array([r[1] for r in rows]),
                        np.array([r[2] for r in rows]), [r[3] for r in rows])
    if unsupervised:
        supervisor, estop.supervisor = estop.supervisor, NeverStop()
        try:
            act = _predictor(policy, deterministic, seed)
            result.unsupervised_return = np.array([_episode(env, act, seed + i, estop)[0] for i in range(episodes)])
        finally:
            estop.supervisor = supervisor
    return result
