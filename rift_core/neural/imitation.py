"""Behaviour cloning of a Gaussian prior, and an RLIF-style value-gap supervisor from a trained expert."""

from __future__ import annotations

import numpy as np
import torch

from .policies import GaussianPolicy, gaussian_log_prob

__all__ = ["demonstrations", "behaviour_cloning", "value_gap_from_expert", "value_gap_from_trainer", "expert_value_gaps"]


def demonstrations(env, expert, episodes: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(observations, actions)`` of ``episodes`` episodes of ``expert``'s mean action plus Gaussian noise of scale
    ``noise``, clipped to ``[-0.999, 0.999]`` (so that ``atanh`` is finite); episode ``i`` is reset with seed ``seed + i``."""
    from .evaluation import _predictor

    rng = np.random.default_rng(seed)
    act = _predictor(expert, True, seed)
    obs_list, act_list = [], []
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        while True:
            a = np.asarray(act(obs), dtype=np.float64)
            a = np.clip(a + noise * rng.normal(size=a.shape), -0.999, 0.999)
            obs_list.append(obs)
            act_list.append(a)
            obs, _, term, trunc, _ = env.step(a)
            if term or trunc:
                break
    return np.asarray(obs_list, np.float32), np.asarray(act_list, np.float32)


def behaviour_cloning(observations: np.ndarray, actions: np.ndarray, hidden: tuple[int, ...] = (64, 64),
                      epochs: int = 2000, lr: float = 1e-3, seed: int = 0) -> GaussianPolicy:
    r"""A :class:`GaussianPolicy` fitted by maximum likelihood to the pre-tanh actions ``atanh(a)``:
    minimises ``-mean_i log N(atanh(a_i); mu(s_i), sigma(s_i))`` by full-batch Adam for ``epochs`` steps."""
    obs = np.asarray(observations, np.float32)
    act = np.asarray(actions, np.float32)
    if obs.ndim != 2 or act.ndim != 2 or len(obs) != len(act) or len(obs) == 0:
        raise ValueError(f"observations {obs.shape} and actions {act.shape} must be non-empty (n, d) arrays of equal n")
    if not (np.isfinite(obs).all() and np.isfinite(act).all()) or np.abs(act).max() >= 1:
        raise ValueError("observations must be finite and actions finite and strictly inside (-1, 1)")
    X, U = torch.as_tensor(obs), torch.atanh(torch.as_tensor(act))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        policy = GaussianPolicy(X.shape[1], U.shape[1], hidden)
    opt = torch.optim.Adam(policy.parameters(), lr=lr)
    for _ in range(epochs):
        mu, log_std = policy(X)
        loss = -gaussian_log_prob(U, mu, log_std).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return policy.eval()


def value_gap_from_expert(actor, critic, delta: float, still: float | None = 1e-3):
    r"""A :class:`~rift_core.neural.estop.ValueGapSupervisor` judging with an expert: ``Q*`` the minimum of
    ``critic``'s twin values, ``pi*(s)`` ``actor``'s mean action, so a step is stopped when
    ``min_j Q_j(s, pi*(s)) - min_j Q_j(s, a) > delta`` (``still``: see the supervisor)."""
    from .estop import ValueGapSupervisor

    def q(obs, action):
        with torch.no_grad():
            o = torch.as_tensor(np.asarray(obs, np.float32))[None]
            a = torch.as_tensor(np.asarray(action, np.float32))[None]
            return float(critic(o, a).min())

    return ValueGapSupervisor(q, lambda obs: actor.predict(obs, deterministic=True)[0], delta, still)


def value_gap_from_trainer(trainer, delta: float, still: float | None = 1e-3):
    """:func:`value_gap_from_expert` with ``trainer``'s actor and critic as the expert (train it as the ``oracle``)."""
    if trainer.critic is None:
        raise ValueError(f"a {trainer.cfg.method!r} trainer has no critic to judge value gaps with")
    return value_gap_from_expert(trainer.actor, trainer.critic, delta, still)


def expert_value_gaps(env, actor, critic, episodes: int = 3, seed: int = 0, policy=None) -> np.ndarray:
    r"""The value gaps ``min_j Q_j(s, pi*(s)) - min_j Q_j(s, a)`` along ``episodes`` episodes of ``policy`` (default: the
    expert ``actor`` itself) sampling its actions, episode ``i`` reset with seed ``seed + i``.

    A value-gap supervisor's threshold ``delta`` set at a high quantile ``q`` of the expert's own gaps stops the
    expert, acting stochastically, on about a fraction ``1 - q`` of its steps: a scale for ``delta`` that needs no
    task reward. ``env`` should let every step through (a ``never`` supervisor), so the episodes run their length.
    """
    from .evaluation import _predictor

    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes is {episodes!r}, expected a positive integer")
    act = _predictor(actor if policy is None else policy, False, seed)
    observations, actions = [], []
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        while True:
            a = np.asarray(act(obs), np.float32)
            observations.append(np.asarray(obs, np.float32))
            actions.append(a)
            obs, _, terminated, truncated, _ = env.step(a)
            if terminated or truncated:
                break
    o, a = torch.as_tensor(np.array(observations)), torch.as_tensor(np.array(actions))
    with torch.no_grad():
        best = torch.as_tensor(np.asarray(actor.predict(o.numpy(), deterministic=True)[0], np.float32))
        gaps = critic(o, best).min(0).values - critic(o, a).min(0).values
    gaps = gaps.numpy().astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(gaps))
    if bad.size:
        raise FloatingPointError(f"value gap {bad[0]} is {gaps[bad[0]]}: a non-finite observation or critic value")
    return gaps
