r"""Is the critic right off the data? Critic values against Monte-Carlo ground truth, on and off the replay buffer.

The tabular learner of :mod:`rift_core.data.learning` is optimistic on pairs the data
never visit: they keep ``Q = 0``, the largest value a pair can have when the
learner's reward is ``-1`` at a stop and ``0`` otherwise. :func:`critic_check`
measures whether a neural critic does the same. At states the trained policy
visits, it compares ``min_j Q_j(s, a)`` with a Monte-Carlo estimate of the true
value

    Q^pi(s, a) = E[ sum_k gamma^k r_I(s_k, a_k) | s_0 = s, a_0 = a, then pi ],

for two actions per state: one sampled from the policy (covered by the
buffer) and the corner of ``[-1, 1]^d`` farthest from the policy's mean
action (far from the buffer). The rollouts run for ``horizon`` steps with no
time limit: with stop rewards in ``[-1, 0]`` under stop semantics
``terminate``, the value is ``-E[gamma^T]`` for the first stop at ``T``, and
cutting at ``horizon`` errs by at most ``gamma^horizon``.

:func:`certificate_trace` estimates the three terms of the book's
``thm-certificate`` along a training run, from what the run logs.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch

from .._validation import check_positive_int, check_scalar

__all__ = ["CriticCheck", "critic_check", "discounted_stop_probability", "CertificateTrace", "certificate_trace"]


@dataclass
class CriticCheck:
    """Per checked state: critic values ``q_*``, Monte-Carlo values ``mc_*`` (with their standard errors
    ``mc_*_se``) and the distance from ``(s, a)`` to the nearest buffer entry (``nn_*``, in standardised units),
    for the policy's action (``data``) and the far corner (``far``)."""

    q_data: np.ndarray
    mc_data: np.ndarray
    mc_data_se: np.ndarray
    nn_data: np.ndarray
    q_far: np.ndarray
    mc_far: np.ndarray
    mc_far_se: np.ndarray
    nn_far: np.ndarray

    def summary(self) -> dict:
        """Mean critic error ``Q - MC`` on and off the data, and the share of far actions the critic overrates
        by more than two standard errors of the Monte-Carlo estimate plus 0.05."""
        over = self.q_far - self.mc_far > 2 * self.mc_far_se + 0.05
        return {"states": len(self.q_data), "error_data": float(np.mean(self.q_data - self.mc_data)),
                "error_far": float(np.mean(self.q_far - self.mc_far)),
                "abs_error_data": float(np.mean(np.abs(self.q_data - self.mc_data))),
                "abs_error_far": float(np.mean(np.abs(self.q_far - self.mc_far))),
                "overrated_far": float(over.mean()), "nn_distance_data": float(np.median(self.nn_data)),
                "nn_distance_far": float(np.median(self.nn_far))}


def _nearest(buffer_x: torch.Tensor, x: torch.Tensor) -> np.ndarray:
    return torch.cdist(x, buffer_x).min(1).values.numpy()


def critic_check(trainer, env, states: int = 100, rollouts: int = 16, horizon: int = 500, seed: int = 0) -> CriticCheck:
    """Compare ``trainer``'s critic with Monte-Carlo values at ``states`` states its policy visits in ``env``.

    ``env`` is an :class:`~rift_core.neural.estop.EStop` environment with stop semantics
    ``terminate`` whose unwrapped environment offers ``get_state``/``set_state``
    (or MuJoCo's ``qpos``/``qvel``), built with a time limit of at least
    ``horizon`` steps (the rollouts must not be truncated). States are drawn from
    episodes of the trainer's policy reset with seeds ``seed, seed + 1, ...``.
    """
    from .evaluation import _estop_layer

    if trainer.critic is None:
        raise ValueError(f"a {trainer.cfg.method!r} trainer has no critic to check")
    for name, v in (("states", states), ("rollouts", rollouts), ("horizon", horizon)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} is {v!r}, expected a positive integer")
    estop = _estop_layer(env)
    if estop.semantics != "terminate":
        raise ValueError("critic_check needs stop semantics 'terminate' (a stop ends the rollout)")
    gamma, rng = trainer.cfg.gamma, np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    act = lambda o: trainer.predict(o, generator=gen)[0]  # noqa: E731

    pool = []  # (snapshot, obs) along episodes of the policy
    for ep in itertools.count():
        obs, _ = env.reset(seed=seed + ep)
        for _ in range(horizon):
            pool.append((estop._snapshot(), np.array(obs)))
            obs, _, term, trunc, _ = env.step(act(obs))
            if term or trunc:
                break
        if len(pool) >= 4 * states or ep > 10 * states:
            break
    picks = rng.choice(len(pool), size=min(states, len(pool)), replace=False)

    def value(snapshot, obs, a0) -> tuple[float, float]:
        returns = []
        for _ in range(rollouts):
            env.reset(seed=int(rng.integers(2**31)))
            estop._restore(snapshot)
            estop._obs = obs
            total, a, discount = 0.0, a0, 1.0
            for _k in range(horizon):
                o, r, term, trunc, _ = env.step(a)
                total += discount * r
                discount *= gamma
                if term or trunc:
                    break
                a = act(o)
            returns.append(total)
        return float(np.mean(returns)), float(np.std(returns, ddof=1) / np.sqrt(rollouts)) if rollouts > 1 else 0.0

    obs_b = trainer.buffer.data["obs"][: trainer.buffer.size]
    act_b = trainer.buffer.data["act"][: trainer.buffer.size]
    mean, std = obs_b.mean(0), obs_b.std(0) + 1e-6
    buffer_x = torch.cat([(obs_b - mean) / std, act_b], 1)
    out = {k: [] for k in ("q_data", "mc_data", "mc_data_se", "nn_data", "q_far", "mc_far", "mc_far_se", "nn_far")}
    for i in picks:
        snapshot, obs = pool[i]
        a_data = act(obs)
        mean_action = trainer.predict(obs, deterministic=True)[0]
        a_far = np.where(mean_action > 0, -1.0, 1.0).astype(np.float32) * 0.999
        for tag, a in (("data", a_data), ("far", a_far)):
            with torch.no_grad():
                o, a_t = torch.as_tensor(obs[None], dtype=torch.float32), torch.as_tensor(a[None], dtype=torch.float32)
                out[f"q_{tag}"].append(float(trainer.critic(o, a_t).min()))
                out[f"nn_{tag}"].append(float(_nearest(buffer_x, torch.cat([(o - mean) / std, a_t], 1))[0]))
            mc, se = value(snapshot, obs, a)
            out[f"mc_{tag}"].append(mc)
            out[f"mc_{tag}_se"].append(se)
    return CriticCheck(**{k: np.asarray(v) for k, v in out.items()})


def discounted_stop_probability(lengths, stop_counts, gamma: float) -> float:
    r"""``p_stop = E[gamma^tau; tau < inf]`` estimated from episodes under stop semantics ``terminate``: the mean of
    ``gamma^(L - 1) 1[stopped]`` over episodes of length ``L`` (a stop ends the episode at its last step)."""
    gamma = check_scalar("gamma", gamma, low=0.0, high=1.0, high_open=True)
    L, n = np.asarray(lengths, dtype=float), np.asarray(stop_counts, dtype=float)
    if L.ndim != 1 or L.shape != n.shape or len(L) == 0:
        raise ValueError(f"lengths {L.shape} and stop_counts {n.shape} must be non-empty 1-D arrays of one length")
    bad = np.flatnonzero(~np.isfinite(L) | (L < 1) | ~np.isfinite(n) | (n < 0))
    if bad.size:
        raise ValueError(f"episode {bad[0]}: length {L[bad[0]]} and stops {n[bad[0]]}, expected a length >= 1 and "
                         "stops >= 0")
    return float(np.mean(gamma ** (L - 1) * (n > 0)))


@dataclass
class CertificateTrace:
    """Estimates of the certificate's terms at each logged update ``steps``: ``kl_cost`` estimates ``D(pi_t)``,
    ``middle`` estimates ``(J_I(pi_t) - J_I(pi_0)) / alpha`` and ``bound`` is ``p_stop(pi_0) / alpha``."""

    steps: np.ndarray
    kl_cost: np.ndarray
    middle: np.ndarray
    bound: float


def certificate_trace(episodes, updates, gamma: float, alpha: float, p_stop_prior: float,
                      window: int = 20) -> CertificateTrace:
    r"""The certificate ``D(pi) <= (J_I(pi) - J_I(pi_0)) / alpha <= p_stop(pi_0) / alpha`` (the book's
    ``thm-certificate``) estimated along a run, at each logged update ``u`` (a dict with ``step`` and ``kl``) from
    the last ``window`` training episodes (dicts with ``step``, ``length``, ``stops``) finished by then:

    - ``kl_cost = kl_u * mean((1 - gamma^L) / (1 - gamma))``: the replay-batch KL per state times the mean
      discounted episode length;
    - ``middle = (p_stop(pi_0) - p_stop_hat(pi_t)) / alpha``, ``p_stop_hat`` by :func:`discounted_stop_probability`
      over those episodes;
    - ``bound = p_stop(pi_0) / alpha``.

    Updates logged before the first finished episode are skipped. These mix distributions (the replay batch is not
    ``pi_t``'s occupancy; the episodes are those of the exploring policy): a consistency check, not a verification.
    """
    gamma = check_scalar("gamma", gamma, low=0.0, high=1.0, high_open=True)
    alpha = check_scalar("alpha", alpha, low=0.0, low_open=True)
    p0 = check_scalar("p_stop_prior", p_stop_prior, low=0.0, high=1.0)
    window = check_positive_int("window", window)
    steps, kl_cost, middle = [], [], []
    for k, u in enumerate(updates):
        if not np.isfinite(float(u["kl"])):
            raise ValueError(f"updates[{k}]['kl'] is {u['kl']}, expected a finite number")
        last = [e for e in episodes if e["step"] <= u["step"]][-window:]
        if not last:
            continue
        L = np.array([e["length"] for e in last], dtype=float)
        steps.append(u["step"])
        kl_cost.append(float(u["kl"]) * float(np.mean((1 - gamma ** L) / (1 - gamma))))
        middle.append((p0 - discounted_stop_probability(L, [e["stops"] for e in last], gamma)) / alpha)
    return CertificateTrace(np.array(steps), np.array(kl_cost), np.array(middle), p0 / alpha)
