r"""The losses of neural RIFT as pure functions of tensors (no networks, no state), each tested by hand.

With learner reward ``r_I`` (``-1`` at a stop, else ``0``), discount ``gamma`` and KL weight ``alpha``:

- :func:`gaussian_kl`: ``KL(N(mu, sigma) || N(mu0, sigma0))`` of diagonal Gaussians;
- :func:`soft_target`: the critic's regression target
  ``y = r + gamma (1 - terminated) (min_j Q'_j(s', a') + bonus(s', a'))``, where
  ``bonus = -alpha (log pi(a'|s') - log pi0(a'|s'))`` for RIFT (the soft Bellman
  backup of the book's Theorem 1 with a one-sample estimate of the KL),
  ``-alpha log pi(a'|s')`` for SAC-style entropy and ``0`` for plain fine-tuning;
- :func:`critic_loss`: ``mean_j mean_batch (Q_j(s, a) - y)^2``;
- :func:`rift_actor_loss`: ``mean_batch [alpha KL(pi(.|s) || pi0(.|s)) - min_j Q_j(s, a)]``, ``a ~ pi(.|s)``,
  the KL in closed form;
- :func:`entropy_actor_loss`: SAC's ``mean_batch [alpha log pi(a|s) - min_j Q_j(s, a)]``.
"""

from __future__ import annotations

import torch

__all__ = ["gaussian_kl", "soft_target", "critic_loss", "rift_actor_loss", "entropy_actor_loss"]


def gaussian_kl(mu: torch.Tensor, log_std: torch.Tensor, mu0: torch.Tensor, log_std0: torch.Tensor) -> torch.Tensor:
    r"""``KL(N(mu, sigma) || N(mu0, sigma0)) = sum_i [log(sigma0_i / sigma_i) + (sigma_i^2 + (mu_i - mu0_i)^2)
    / (2 sigma0_i^2) - 1/2]``, summed over the last axis."""
    var, var0 = torch.exp(2 * log_std), torch.exp(2 * log_std0)
    return (log_std0 - log_std + (var + (mu - mu0) ** 2) / (2 * var0) - 0.5).sum(-1)


def soft_target(reward: torch.Tensor, terminated: torch.Tensor, gamma: float, next_q: torch.Tensor,
                next_bonus: torch.Tensor | float = 0.0) -> torch.Tensor:
    r"""``y = reward + gamma (1 - terminated) (min_j next_q[j] + next_bonus)``; ``next_q`` has shape ``(n_critics, batch)``."""
    return reward + gamma * (1.0 - terminated) * (next_q.min(0).values + next_bonus)


def critic_loss(q: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""``mean_j mean_b (q[j, b] - target[b])^2`` (Stable-Baselines3's ``0.5 sum_j MSE_j`` for two critics)."""
    return ((q - target) ** 2).mean()


def rift_actor_loss(q: torch.Tensor, kl: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
    r"""``mean_b [alpha kl[b] - min_j q[j, b]]``."""
    return (alpha * kl - q.min(0).values).mean()


def entropy_actor_loss(q: torch.Tensor, log_prob: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
    r"""``mean_b [alpha log_prob[b] - min_j q[j, b]]`` (SAC's actor loss; ``alpha = 0`` is plain fine-tuning)."""
    return (alpha * log_prob - q.min(0).values).mean()
