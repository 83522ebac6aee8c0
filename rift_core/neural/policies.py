r"""Policies and critics of neural RIFT: the frozen Gaussian prior, the residual policy, fused twin critics.

All policies are diagonal Gaussians over *pre-tanh* actions ``u``; the action is
``a = tanh(u)`` in ``[-1, 1]^d``. Since ``tanh`` is a bijection, the KL of two
squashed Gaussians equals the KL of the pre-tanh ones, which is what the book's
neural chapter regularises.

- :class:`GaussianPolicy`: ``s -> (mu(s), log sigma(s))``, a trunk and two linear
  heads (the layout of Stable-Baselines3's SAC actor, so that
  :func:`prior_from_sb3` is a copy of weights), ``log sigma`` clamped to
  ``log_std_bounds``.
- :class:`ResidualPolicy`: ``mu = mu0 + dmu``, ``log sigma = log sigma0 + dlog sigma``
  with a zero-initialised residual head, so that it equals its prior bit for bit
  before training.
- :class:`TwinCritic`: the two critics of SAC as one batched network (one
  ``baddbmm`` per layer instead of two matrix products).

Every policy has ``predict(obs, deterministic=False) -> (action, None)``, batched
(the Stable-Baselines3 convention), and is saved alone by :func:`save_policy` as
a small file that :func:`load_policy` reads with ``torch.load(weights_only=True)``.
An expert (an actor with its critic, e.g. for a value-gap supervisor) is saved
by :func:`save_expert` and read back by :func:`load_expert`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = ["GaussianPolicy", "ResidualPolicy", "TwinCritic", "squashed_sample", "squashed_log_prob", "gaussian_log_prob",
           "save_policy", "load_policy", "save_expert", "load_expert", "prior_from_sb3", "POLICY_FORMAT",
           "EXPERT_FORMAT"]

POLICY_FORMAT = "rift_core.policy/1"
EXPERT_FORMAT = "rift_core.expert/1"
ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU, "leaky_relu": nn.LeakyReLU}


def _activation(name: str) -> nn.Module:
    # in place where torch offers it: the trunk owns its intermediate tensors
    return nn.Tanh() if name == "tanh" else ACTIVATIONS[name](inplace=True)


def _trunk(n_in: int, hidden: tuple[int, ...], activation: str) -> nn.Sequential:
    layers, last = [], n_in
    for h in hidden:
        layers += [nn.Linear(last, h), _activation(activation)]
        last = h
    return nn.Sequential(*layers)


def gaussian_log_prob(u: torch.Tensor, mu: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    r"""``log N(u; mu, diag sigma^2) = sum_i [-(u_i - mu_i)^2 / (2 sigma_i^2) - log sigma_i - log(2 pi) / 2]``."""
    return (-0.5 * ((u - mu) / log_std.exp()) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)


def squashed_log_prob(u: torch.Tensor, mu: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    r"""``log pi(tanh(u) | s) = log N(u; mu, sigma) - sum_i log(1 - tanh(u_i)^2)``, the correction computed stably
    as ``2 (log 2 - u - softplus(-2u))``."""
    correction = (2 * (math.log(2.0) - u - nn.functional.softplus(-2 * u))).sum(-1)
    return gaussian_log_prob(u, mu, log_std) - correction


def squashed_sample(mu: torch.Tensor, log_std: torch.Tensor, generator: torch.Generator | None = None,
                    log_prob: bool = True, eps: torch.Tensor | None = None):
    r"""``u = mu + sigma * eps`` (reparameterised, ``eps ~ N(0, I)`` from ``generator``, or the given ``eps``),
    ``a = tanh(u)``, and ``log pi(a | s)`` by :func:`squashed_log_prob`. Returns ``(a, u, log_prob)`` (``log_prob``
    is ``None`` if not asked for)."""
    if eps is None:
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
    u = mu + log_std.exp() * eps
    return torch.tanh(u), u, (squashed_log_prob(u, mu, log_std) if log_prob else None)


class _Predicts:
    """``predict`` for modules whose ``forward`` gives ``(mu, log_std)``."""

    @torch.no_grad()
    def predict(self, obs, deterministic: bool = False, generator: torch.Generator | None = None):
        """Actions in ``[-1, 1]^d`` for ``obs`` of shape ``(obs_dim,)`` or ``(n, obs_dim)``: ``tanh(mu)`` if
        ``deterministic``, else a sample. Returns ``(action, None)`` as Stable-Baselines3's ``predict`` does."""
        x = torch.as_tensor(np.asarray(obs, dtype=np.float32))
        single = x.ndim == 1
        mu, log_std = self(x[None] if single else x)
        a = torch.tanh(mu) if deterministic else squashed_sample(mu, log_std, generator, log_prob=False)[0]
        a = a.numpy()
        return (a[0] if single else a), None


class GaussianPolicy(nn.Module, _Predicts):
    """``s -> (mu(s), log sigma(s))``: an MLP trunk, a mean head and a log-std head clamped to ``log_std_bounds``."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: tuple[int, ...] = (64, 64), activation: str = "relu",
                 log_std_bounds: tuple[float, float] = (-5.0, 2.0)):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation is {activation!r}, expected one of {sorted(ACTIVATIONS)}")
        lo, hi = (float(b) for b in log_std_bounds)
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(f"log_std_bounds is {log_std_bounds!r}, expected finite (low, high) with low < high")
        self.obs_dim, self.act_dim, self.hidden = int(obs_dim), int(act_dim), tuple(int(h) for h in hidden)
        self.activation, self.log_std_bounds = activation, (lo, hi)
        self.latent = _trunk(obs_dim, self.hidden, activation)
        last = self.hidden[-1] if self.hidden else obs_dim
        self.mu = nn.Linear(last, act_dim)
        self.log_std = nn.Linear(last, act_dim)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.latent(obs)
        return self.mu(z), self.log_std(z).clamp(*self.log_std_bounds)

    def architecture(self) -> dict:
        return {"kind": "gaussian", "obs_dim": self.obs_dim, "act_dim": self.act_dim, "hidden": list(self.hidden),
                "activation": self.activation, "log_std_bounds": list(self.log_std_bounds)}


class ResidualPolicy(nn.Module, _Predicts):
    r"""A frozen prior plus a zero-initialised residual head:
    ``mu = mu0 + dmu_theta``, ``log sigma = clamp(log sigma0 + dlog sigma_theta)`` (the prior's clamp).

    ``forward(obs, prior_out=None)`` takes the prior's ``(mu0, log sigma0)`` when
    they are already known (the replay buffer stores them), saving its forward pass.
    """

    def __init__(self, prior: GaussianPolicy, hidden: tuple[int, ...] = (64, 64), activation: str = "relu"):
        super().__init__()
        self.prior = prior
        for p in self.prior.parameters():
            p.requires_grad_(False)
        self.obs_dim, self.act_dim, self.hidden = prior.obs_dim, prior.act_dim, tuple(int(h) for h in hidden)
        self.activation = activation
        self.residual_latent = _trunk(self.obs_dim, self.hidden, activation)
        self.residual_head = nn.Linear(self.hidden[-1] if self.hidden else self.obs_dim, 2 * self.act_dim)
        nn.init.zeros_(self.residual_head.weight)
        nn.init.zeros_(self.residual_head.bias)

    def forward(self, obs: torch.Tensor, prior_out: tuple[torch.Tensor, torch.Tensor] | None = None):
        if prior_out is None:
            with torch.no_grad():
                prior_out = self.prior(obs)
        mu0, log_std0 = prior_out
        dmu, dlog_std = self.residual_head(self.residual_latent(obs)).split(self.act_dim, dim=-1)
        return mu0 + dmu, (log_std0 + dlog_std).clamp(*self.prior.log_std_bounds)

    def architecture(self) -> dict:
        return {"kind": "residual", "hidden": list(self.hidden), "activation": self.activation,
                "prior": self.prior.architecture()}


class TwinCritic(nn.Module):
    r"""``n`` critics ``Q_j(s, a)`` evaluated as one batched MLP: layer ``l`` computes ``x W_l[j] + b_l[j]`` for
    all ``j`` with one ``baddbmm``. ``forward(obs, act)`` returns shape ``(n, batch)``. With ``detach=True`` the
    parameters are detached (the actor's loss needs gradients with respect to the action only)."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: tuple[int, ...] = (64, 64), n: int = 2):
        super().__init__()
        sizes = [obs_dim + act_dim, *hidden, 1]
        self.weights, self.biases = nn.ParameterList(), nn.ParameterList()
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            bound = 1.0 / math.sqrt(fan_in)  # nn.Linear's default initialisation
            self.weights.append(nn.Parameter(torch.empty(n, fan_in, fan_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(n, 1, fan_out).uniform_(-bound, bound)))
        self.n, self.obs_dim, self.act_dim = n, int(obs_dim), int(act_dim)

    def architecture(self) -> dict:
        return {"kind": "twin_critic", "obs_dim": self.obs_dim, "act_dim": self.act_dim,
                "hidden": [int(w.shape[2]) for w in self.weights[:-1]], "n": self.n}

    def forward(self, obs: torch.Tensor, act: torch.Tensor, detach: bool = False) -> torch.Tensor:
        x = torch.cat([obs, act], dim=-1).expand(self.n, -1, -1)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            if detach:
                w, b = w.detach(), b.detach()
            x = torch.baddbmm(b, x, w)
            if i < last:
                x = torch.relu_(x)
        return x[..., 0]


def _policy_payload(policy) -> dict:
    return {"architecture": policy.architecture(),
            "state_dict": {k: v.detach().clone() for k, v in policy.state_dict().items()}}


def _policy_from_payload(payload: dict, where: str):
    try:
        arch = payload["architecture"]
        if arch["kind"] == "gaussian":
            policy = GaussianPolicy(arch["obs_dim"], arch["act_dim"], tuple(arch["hidden"]), arch["activation"],
                                    tuple(arch["log_std_bounds"]))
        elif arch["kind"] == "residual":
            prior_arch = arch["prior"]
            prior = GaussianPolicy(prior_arch["obs_dim"], prior_arch["act_dim"], tuple(prior_arch["hidden"]),
                                   prior_arch["activation"], tuple(prior_arch["log_std_bounds"]))
            policy = ResidualPolicy(prior, tuple(arch["hidden"]), arch["activation"])
        else:
            raise ValueError(f"unknown policy kind {arch['kind']!r}")
        policy.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise ValueError(f"{where}: not a rift_core policy ({type(e).__name__}: {e})") from e
    return policy.eval()


def save_policy(policy, path: str | os.PathLike, metadata: dict | None = None) -> Path:
    """Save a :class:`GaussianPolicy` or :class:`ResidualPolicy` (or a trainer's actor) alone, atomically.

    The file holds tensors, the architecture and ``metadata`` (plain JSON-like
    values): :func:`load_policy` reads it with ``torch.load(weights_only=True)``,
    so loading runs no code from the file.
    """
    from ..provenance import atomic_write

    policy = getattr(policy, "actor", policy)
    if not isinstance(policy, (GaussianPolicy, ResidualPolicy)):
        raise TypeError(f"policy is a {type(policy).__name__}, expected a GaussianPolicy, a ResidualPolicy or a Trainer")
    payload = {"format": POLICY_FORMAT, **_policy_payload(policy), "metadata": dict(metadata or {})}
    return atomic_write(path, lambda f: torch.save(payload, f), binary=True)


def _read_payload(path: Path, fmt: str, what: str) -> dict:
    try:
        payload = torch.load(path, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:  # noqa: BLE001 - any unpickling failure means the file is not ours
        raise ValueError(f"{path}: not a readable rift_core {what} file ({type(e).__name__}: {e})") from e
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise ValueError(f"{path}: not a rift_core {what} file (format "
                         f"{payload.get('format') if isinstance(payload, dict) else None!r}, expected {fmt!r})")
    return payload


def load_policy(path: str | os.PathLike) -> GaussianPolicy | ResidualPolicy:
    """Load a policy written by :func:`save_policy` (``weights_only=True``); errors name the file."""
    path = Path(path)
    return _policy_from_payload(_read_payload(path, POLICY_FORMAT, "policy"), str(path))


def save_expert(trainer, path: str | os.PathLike, metadata: dict | None = None) -> Path:
    """Save a trained :class:`~rift_core.neural.Trainer`'s actor and twin critic together, atomically: the expert
    that a value-gap supervisor judges with (:func:`rift_core.neural.value_gap_from_expert`)."""
    from ..provenance import atomic_write

    actor, critic = getattr(trainer, "actor", None), getattr(trainer, "critic", None)
    if not isinstance(actor, (GaussianPolicy, ResidualPolicy)) or not isinstance(critic, TwinCritic):
        raise TypeError(f"expected a Trainer with an actor and a critic, got a {type(trainer).__name__}")
    payload = {"format": EXPERT_FORMAT, "actor": _policy_payload(actor),
               "critic": {"architecture": critic.architecture(),
                          "state_dict": {k: v.detach().clone() for k, v in critic.state_dict().items()}},
               "metadata": dict(metadata or {})}
    return atomic_write(path, lambda f: torch.save(payload, f), binary=True)


def load_expert(path: str | os.PathLike) -> tuple[GaussianPolicy | ResidualPolicy, TwinCritic]:
    """``(actor, critic)`` of an expert written by :func:`save_expert` (``weights_only=True``)."""
    path = Path(path)
    payload = _read_payload(path, EXPERT_FORMAT, "expert")
    actor = _policy_from_payload(payload.get("actor"), str(path))
    try:
        arch = payload["critic"]["architecture"]
        if (arch["obs_dim"], arch["act_dim"]) != (actor.obs_dim, actor.act_dim):
            raise ValueError(f"critic of (obs, act) dims {arch['obs_dim'], arch['act_dim']} for an actor of "
                             f"{actor.obs_dim, actor.act_dim}")
        critic = TwinCritic(arch["obs_dim"], arch["act_dim"], tuple(arch["hidden"]), arch["n"])
        critic.load_state_dict(payload["critic"]["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise ValueError(f"{path}: not a rift_core expert ({type(e).__name__}: {e})") from e
    return actor, critic.eval()


def prior_from_sb3(model) -> GaussianPolicy:
    r"""A Stable-Baselines3 SAC model's actor as a frozen :class:`GaussianPolicy` with the same pre-tanh law.

    SB3's actor computes ``mu = W_mu z + b``, ``log sigma = clamp(W_sigma z + b, -20, 2)`` from the
    trunk ``z = latent_pi(flatten(obs))``; this copies those weights into a
    :class:`GaussianPolicy` with ``log_std_bounds = (-20, 2)`` (SB3's clamp), so
    ``N(mu, sigma)`` is identical. SB3's squashed actions live in ``[-1, 1]``
    and SB3 rescales them linearly to the environment's bounds, as
    ``gymnasium.wrappers.RescaleAction`` does: train RIFT on the environment
    wrapped to ``[-1, 1]``. Not supported (a clear error): gSDE
    (``use_sde=True``), feature extractors other than flattening, and
    observation normalisation by ``VecNormalize`` (normalise inside the
    environment instead).
    """
    from stable_baselines3.common.preprocessing import get_flattened_obs_dim
    from stable_baselines3.common.torch_layers import FlattenExtractor
    from stable_baselines3.sac.policies import LOG_STD_MAX, LOG_STD_MIN

    actor = getattr(getattr(model, "policy", model), "actor", None)
    if actor is None or not hasattr(actor, "latent_pi"):
        raise TypeError(f"expected a Stable-Baselines3 SAC model or policy, got {type(model).__name__}")
    if actor.use_sde:
        raise ValueError("prior_from_sb3: gSDE actors (use_sde=True) are not Gaussian in the observation alone")
    if not isinstance(actor.features_extractor, FlattenExtractor):
        raise ValueError(f"prior_from_sb3: feature extractor {type(actor.features_extractor).__name__} is not supported")
    linears = [m for m in actor.latent_pi if isinstance(m, nn.Linear)]
    acts = {type(m) for m in actor.latent_pi if not isinstance(m, nn.Linear)}
    names = [k for k, v in ACTIVATIONS.items() if {v} == acts]
    if linears and not names:
        raise ValueError(f"prior_from_sb3: activation {acts} is not one of {sorted(ACTIVATIONS)}")
    obs_dim = get_flattened_obs_dim(actor.observation_space)
    prior = GaussianPolicy(obs_dim, actor.action_space.shape[0], tuple(m.out_features for m in linears),
                           names[0] if names else "relu", (float(LOG_STD_MIN), float(LOG_STD_MAX)))
    with torch.no_grad():
        for ours, theirs in zip([m for m in prior.latent if isinstance(m, nn.Linear)], linears):
            ours.weight.copy_(theirs.weight.cpu())
            ours.bias.copy_(theirs.bias.cpu())
        for ours, theirs in ((prior.mu, actor.mu), (prior.log_std, actor.log_std)):
            ours.weight.copy_(theirs.weight.cpu())
            ours.bias.copy_(theirs.bias.cpu())
    return prior.eval()
