r"""Neural RIFT for continuous control (DESIGN §3): residual Gaussian policies and an off-policy trainer.

The prior is a frozen Gaussian ``pi0(a | s) = N(mu0(s), sigma0(s))`` over *pre-tanh*
actions (actions are squashed by ``tanh`` into ``[-1, 1]``; the KL of two
squashed Gaussians equals the KL of the pre-tanh ones, since ``tanh`` is a
bijection). RIFT's policy adds a residual head to the prior's outputs,

    mu(s) = mu0(s) + dmu_theta(s),     log sigma(s) = log sigma0(s) + dlogsigma_theta(s),

whose last layer starts at zero, so training starts exactly at the prior.

The trainer is SAC-shaped, one update per environment step, on the learner's
reward ``r_I`` (-1 at a stop, a true termination with no bootstrap; 0
otherwise; a time limit is a truncation and bootstraps):

    critic target  y = r_I + gamma (1 - terminated) (min_j Q'_j(s', a') - alpha (log pi(a'|s') - log pi0(a'|s'))),  a' ~ pi
    actor loss     alpha KL(pi(.|s) || pi0(.|s)) - E_{a ~ pi} min_j Q_j(s, a)       (KL in closed form)

With ``kl_budget`` set, ``alpha`` is adapted by dual ascent on
``alpha (KL - kl_budget)``. The baselines run through the same code: ``avoid``
(SAC with an entropy bonus and no prior, on ``r_I``), ``finetune`` (starts at
the prior, no KL term), ``oracle`` (SAC on the hidden task reward), ``filter``
(the prior, shielded by a learned stop classifier ``c(s, a) ~ P(stop)``:
``filter_samples`` candidates are drawn from the prior and the first accepted
with probability ``1 - c`` is taken, else the least risky) and ``prior`` (the
prior alone, no learning).
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

__all__ = ["GaussianPolicy", "ResidualPolicy", "gaussian_kl", "squashed_sample", "TrainConfig", "Trainer"]

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0
METHODS = ("prior", "rift", "avoid", "finetune", "filter", "oracle")


def mlp(n_in: int, n_out: int, hidden: tuple[int, ...]) -> nn.Sequential:
    layers, last = [], n_in
    for h in hidden:
        layers += [nn.Linear(last, h), nn.ReLU()]
        last = h
    layers.append(nn.Linear(last, n_out))
    return nn.Sequential(*layers)


class GaussianPolicy(nn.Module):
    """``s -> (mu, log_sigma)`` of a diagonal Gaussian over pre-tanh actions."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: tuple[int, ...] = (64, 64)):
        super().__init__()
        self.net = mlp(obs_dim, 2 * act_dim, hidden)
        self.act_dim = act_dim

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, log_std = self.net(obs).split(self.act_dim, dim=-1)
        return mu, log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)


class ResidualPolicy(nn.Module):
    """A frozen prior plus a zero-initialised residual head on its mean and log-std."""

    def __init__(self, prior: GaussianPolicy, obs_dim: int, hidden: tuple[int, ...] = (64, 64)):
        super().__init__()
        self.prior = prior
        for p in self.prior.parameters():
            p.requires_grad_(False)
        self.residual = mlp(obs_dim, 2 * prior.act_dim, hidden)
        nn.init.zeros_(self.residual[-1].weight)
        nn.init.zeros_(self.residual[-1].bias)
        self.act_dim = prior.act_dim

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu0, log_std0 = self.prior(obs)
        dmu, dlog_std = self.residual(obs).split(self.act_dim, dim=-1)
        return mu0 + dmu, (log_std0 + dlog_std).clamp(LOG_STD_MIN, LOG_STD_MAX)


def gaussian_kl(mu: torch.Tensor, log_std: torch.Tensor, mu0: torch.Tensor, log_std0: torch.Tensor) -> torch.Tensor:
    r"""``KL(N(mu, sigma) || N(mu0, sigma0))`` for diagonal Gaussians, summed over the last axis:
    ``sum log(sigma0 / sigma) + (sigma^2 + (mu - mu0)^2) / (2 sigma0^2) - 1/2``."""
    var, var0 = torch.exp(2 * log_std), torch.exp(2 * log_std0)
    return (log_std0 - log_std + (var + (mu - mu0) ** 2) / (2 * var0) - 0.5).sum(-1)


def gaussian_log_prob(u: torch.Tensor, mu: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """Log-density of pre-tanh actions ``u`` under the diagonal Gaussian, summed over the last axis."""
    return (-0.5 * ((u - mu) / log_std.exp()) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)


def squashed_sample(mu: torch.Tensor, log_std: torch.Tensor, generator: torch.Generator | None = None):
    r"""``u ~ N(mu, sigma)`` (reparameterised), ``a = tanh(u)``, and ``log pi(a | s)`` with the tanh
    correction ``- sum log(1 - tanh(u)^2) = - sum 2 (log 2 - u - softplus(-2u))``. Returns ``(a, u, log_prob)``."""
    eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype)
    u = mu + log_std.exp() * eps
    correction = (2 * (math.log(2.0) - u - nn.functional.softplus(-2 * u))).sum(-1)
    return torch.tanh(u), u, gaussian_log_prob(u, mu, log_std) - correction


@dataclass(frozen=True)
class TrainConfig:
    """Every hyperparameter of a run.

    Attributes
    ----------
    method: ``prior``, ``rift``, ``avoid``, ``finetune``, ``filter`` or ``oracle`` (module docstring).
    alpha: KL weight (``rift``) or entropy temperature (``avoid``, ``oracle``); unused by ``finetune``.
    kl_budget: if set (``rift`` only), ``alpha`` is adapted by dual ascent so that E[KL] tracks it.
    alpha_lr: step size of the dual ascent on ``log alpha``.
    gamma: discount.
    total_steps: environment steps.
    learning_starts: steps collected before the first update.
    batch_size, buffer_size: replay.
    hidden: hidden layer widths of actor, residual and critics.
    actor_lr, critic_lr: Adam step sizes.
    tau: Polyak rate of the target critics.
    seed: seeds torch, numpy and the environment.
    filter_samples: candidate actions the ``filter`` draws from the prior per step.
    """

    method: str = "rift"
    alpha: float = 0.1
    kl_budget: float | None = None
    alpha_lr: float = 3e-3
    gamma: float = 0.99
    total_steps: int = 20_000
    learning_starts: int = 1_000
    batch_size: int = 256
    buffer_size: int = 100_000
    hidden: tuple[int, ...] = (64, 64)
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    tau: float = 0.005
    seed: int = 0
    filter_samples: int = 8

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method is {self.method!r}, expected one of {METHODS}")
        for name in ("alpha", "alpha_lr", "actor_lr", "critic_lr", "tau"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"{name} is {v!r}, expected a positive number")
        if not 0.0 <= self.gamma < 1.0:
            raise ValueError(f"gamma is {self.gamma!r}, expected a number in [0, 1)")
        for name in ("total_steps", "batch_size", "buffer_size", "filter_samples"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} is {v!r}, expected a positive integer")
        if not isinstance(self.learning_starts, int) or self.learning_starts < 0:
            raise ValueError(f"learning_starts is {self.learning_starts!r}, expected an integer >= 0")
        if self.kl_budget is not None and (self.method != "rift" or not self.kl_budget > 0):
            raise ValueError(f"kl_budget is {self.kl_budget!r}: a positive budget is for method 'rift' only")
        if not self.hidden or any(not isinstance(h, int) or h < 1 for h in self.hidden):
            raise ValueError(f"hidden is {self.hidden!r}, expected positive integer widths")


class Trainer:
    """One run: ``Trainer(env, prior, config).train()``; ``save``/``load`` checkpoint everything.

    ``env`` is an :class:`~rift_core.estop.EStop`-wrapped Gymnasium environment
    with actions in ``[-1, 1]``; ``prior`` a :class:`GaussianPolicy` (the frozen
    prior for ``rift``, the initialisation for ``finetune``; unused otherwise).
    """

    def __init__(self, env, prior: GaussianPolicy | None, config: TrainConfig):
        if not (np.all(env.action_space.low == -1) and np.all(env.action_space.high == 1)):
            raise ValueError("env.action_space must be [-1, 1]^d (rescale actions first)")
        if config.method in ("prior", "rift", "finetune", "filter") and prior is None:
            raise ValueError(f"method {config.method!r} needs a prior")
        self.env, self.cfg = env, config
        torch.manual_seed(config.seed)
        self.rng = np.random.default_rng(config.seed)
        obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
        if config.method == "rift":
            self.actor = ResidualPolicy(prior, obs_dim, config.hidden)
        elif config.method == "finetune":
            self.actor = GaussianPolicy(obs_dim, act_dim, config.hidden)
            self.actor.load_state_dict(prior.state_dict())
        elif config.method in ("prior", "filter"):
            self.actor = prior
        else:
            self.actor = GaussianPolicy(obs_dim, act_dim, config.hidden)
        self.prior = prior
        self.critics = nn.ModuleList([mlp(obs_dim + act_dim, 1, config.hidden) for _ in range(2)])
        self.targets = nn.ModuleList([mlp(obs_dim + act_dim, 1, config.hidden) for _ in range(2)])
        self.targets.load_state_dict(self.critics.state_dict())
        learns_actor = config.method not in ("prior", "filter")
        self.actor_opt = (torch.optim.Adam([p for p in self.actor.parameters() if p.requires_grad], lr=config.actor_lr)
                          if learns_actor else None)
        # the filter's stop classifier: logit of P(stop | s, a)
        self.stop_model = mlp(obs_dim + act_dim, 1, config.hidden)
        self.stop_opt = torch.optim.Adam(self.stop_model.parameters(), lr=config.critic_lr)
        self.critic_opt = torch.optim.Adam(self.critics.parameters(), lr=config.critic_lr)
        self.log_alpha = torch.tensor(math.log(config.alpha), requires_grad=False)
        n = config.buffer_size
        self.buffer = {"obs": np.zeros((n, obs_dim), np.float32), "act": np.zeros((n, act_dim), np.float32),
                       "rew": np.zeros(n, np.float32), "next": np.zeros((n, obs_dim), np.float32),
                       "term": np.zeros(n, np.float32)}
        self.size = self.ptr = self.step = 0
        self.episodes: list[dict] = []  # per finished episode: task return, stops, length, step
        self.updates: list[dict] = []   # per log interval: critic loss, KL, alpha
        self._obs, _ = env.reset(seed=config.seed)
        self._ep = {"task_return": 0.0, "stops": 0, "length": 0}

    @property
    def alpha(self) -> float:
        return float(self.log_alpha.exp())

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        with torch.no_grad():
            mu, log_std = self.actor(torch.as_tensor(obs, dtype=torch.float32)[None])
            if deterministic:
                return torch.tanh(mu)[0].numpy()
            if self.cfg.method == "filter":
                return self._filtered(obs, mu, log_std)
            a, _, _ = squashed_sample(mu, log_std)
        return a[0].numpy()

    def _filtered(self, obs, mu, log_std) -> np.ndarray:
        """Rejection sampling from the prior by the learned stop probability (the least risky if all are rejected)."""
        k = self.cfg.filter_samples
        cand, _, _ = squashed_sample(mu.expand(k, -1), log_std.expand(k, -1))
        o = torch.as_tensor(obs, dtype=torch.float32).expand(k, -1)
        p_stop = torch.sigmoid(self.stop_model(torch.cat([o, cand], dim=-1))[:, 0]).numpy()
        accept = self.rng.uniform(size=k) >= p_stop
        i = int(np.argmax(accept)) if accept.any() else int(np.argmin(p_stop))
        return cand[i].numpy()

    def _store(self, obs, act, rew, nxt, term):
        i = self.ptr
        self.buffer["obs"][i], self.buffer["act"][i], self.buffer["rew"][i] = obs, act, rew
        self.buffer["next"][i], self.buffer["term"][i] = nxt, term
        self.ptr = (i + 1) % self.cfg.buffer_size
        self.size = min(self.size + 1, self.cfg.buffer_size)

    def _q(self, nets, obs, act):
        x = torch.cat([obs, act], dim=-1)
        return torch.stack([net(x)[..., 0] for net in nets])

    def update(self) -> dict:
        cfg = self.cfg
        idx = self.rng.integers(0, self.size, size=cfg.batch_size)
        b = {k: torch.as_tensor(v[idx]) for k, v in self.buffer.items()}
        if cfg.method == "prior":
            return {}
        if cfg.method == "filter":  # fit the stop classifier: a stop is learner reward -1
            logits = self.stop_model(torch.cat([b["obs"], b["act"]], dim=-1))[:, 0]
            loss = nn.functional.binary_cross_entropy_with_logits(logits, (b["rew"] < 0).float())
            self.stop_opt.zero_grad()
            loss.backward()
            self.stop_opt.step()
            return {"stop_loss": float(loss.detach())}
        alpha = self.log_alpha.exp()
        with torch.no_grad():
            mu, log_std = self.actor(b["next"])
            a2, u2, logp2 = squashed_sample(mu, log_std)
            soft = self._q(self.targets, b["next"], a2).min(0).values
            if cfg.method == "rift":
                mu0, log_std0 = self.prior(b["next"])
                soft = soft - alpha * (gaussian_log_prob(u2, mu, log_std) - gaussian_log_prob(u2, mu0, log_std0))
            elif cfg.method in ("avoid", "oracle"):
                soft = soft - alpha * logp2
            y = b["rew"] + cfg.gamma * (1.0 - b["term"]) * soft
        critic_loss = ((self._q(self.critics, b["obs"], b["act"]) - y) ** 2).mean()
        self.critic_opt.zero_grad()
        critic_loss.backward()
        self.critic_opt.step()

        mu, log_std = self.actor(b["obs"])
        a, u, logp = squashed_sample(mu, log_std)
        q = self._q(self.critics, b["obs"], a).min(0).values
        kl = torch.zeros(())
        if cfg.method == "rift":
            with torch.no_grad():
                mu0, log_std0 = self.prior(b["obs"])
            kl = gaussian_kl(mu, log_std, mu0, log_std0)
            actor_loss = (alpha * kl - q).mean()
        elif cfg.method in ("avoid", "oracle"):
            actor_loss = (alpha * logp - q).mean()
        else:
            actor_loss = (-q).mean()
        self.actor_opt.zero_grad()
        actor_loss.backward()
        self.actor_opt.step()
        if cfg.kl_budget is not None:  # dual ascent: raise alpha while the KL exceeds its budget
            self.log_alpha += cfg.alpha_lr * (float(kl.detach().mean()) - cfg.kl_budget)
        with torch.no_grad():
            for p, tp in zip(self.critics.parameters(), self.targets.parameters()):
                tp.mul_(1 - cfg.tau).add_(cfg.tau * p)
        return {"critic_loss": float(critic_loss.detach()), "kl": float(kl.detach().mean()), "alpha": self.alpha}

    def train(self, steps: int | None = None, progress: bool = False, log_every: int = 1000) -> "Trainer":
        """Run ``steps`` more environment steps (default: up to ``total_steps``)."""
        from tqdm.auto import tqdm

        end = self.cfg.total_steps if steps is None else self.step + steps
        bar = tqdm(total=end - self.step, desc=f"{self.cfg.method}", disable=not progress)
        while self.step < end:
            if self.cfg.method in ("avoid", "oracle") and self.step < self.cfg.learning_starts:
                action = self.env.action_space.sample()
            else:
                action = self.act(self._obs)
            nxt, reward, terminated, truncated, info = self.env.step(action)
            learner_reward = info["task_reward"] if self.cfg.method == "oracle" else reward
            self._store(self._obs, action, learner_reward, nxt, float(terminated))
            self._ep["task_return"] += info["task_reward"]
            self._ep["stops"] += int(info["stopped"])
            self._ep["length"] += 1
            self._obs = nxt
            self.step += 1
            if terminated or truncated:
                self.episodes.append({**self._ep, "step": self.step})
                self._ep = {"task_return": 0.0, "stops": 0, "length": 0}
                self._obs, _ = self.env.reset()
            if self.step >= self.cfg.learning_starts and self.size >= self.cfg.batch_size:
                stats = self.update()
                if self.step % log_every == 0:
                    self.updates.append({**stats, "step": self.step})
            bar.update(1)
        bar.close()
        return self

    def state(self) -> dict:
        """Everything needed to resume: networks, optimisers, alpha, replay, counters, logs, RNG."""
        return {"config": asdict(self.cfg), "actor": self.actor.state_dict(), "critics": self.critics.state_dict(),
                "targets": self.targets.state_dict(),
                "actor_opt": self.actor_opt.state_dict() if self.actor_opt is not None else None,
                "critic_opt": self.critic_opt.state_dict(), "log_alpha": self.log_alpha.clone(),
                "stop_model": self.stop_model.state_dict(), "stop_opt": self.stop_opt.state_dict(),
                "buffer": {k: v[: self.size].copy() for k, v in self.buffer.items()}, "ptr": self.ptr,
                "size": self.size, "step": self.step, "episodes": list(self.episodes), "updates": list(self.updates),
                "rng": self.rng.bit_generator.state, "torch_rng": torch.get_rng_state()}

    def save(self, path: str | os.PathLike) -> None:
        """Checkpoint atomically (write a temporary file, then rename)."""
        path = os.fspath(path)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", suffix=".tmp")
        os.close(fd)
        try:
            torch.save(self.state(), tmp)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def load(self, path: str | os.PathLike) -> "Trainer":
        """Restore a checkpoint written by :meth:`save` (the environment restarts its episode)."""
        s = torch.load(path, weights_only=False)
        if s["config"] != asdict(self.cfg):
            raise ValueError("checkpoint config differs from this trainer's config")
        self.actor.load_state_dict(s["actor"])
        self.critics.load_state_dict(s["critics"])
        self.targets.load_state_dict(s["targets"])
        if self.actor_opt is not None:
            self.actor_opt.load_state_dict(s["actor_opt"])
        self.critic_opt.load_state_dict(s["critic_opt"])
        self.log_alpha = s["log_alpha"]
        self.stop_model.load_state_dict(s["stop_model"])
        self.stop_opt.load_state_dict(s["stop_opt"])
        for k, v in s["buffer"].items():
            self.buffer[k][: len(v)] = v
        self.ptr, self.size, self.step = s["ptr"], s["size"], s["step"]
        self.episodes, self.updates = list(s["episodes"]), list(s["updates"])
        self.rng.bit_generator.state = s["rng"]
        torch.set_rng_state(s["torch_rng"])
        self._obs, _ = self.env.reset()
        return self
