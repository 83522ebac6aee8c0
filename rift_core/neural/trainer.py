r"""The neural RIFT algorithm: one off-policy trainer for RIFT and its baselines, read top to bottom.

Per environment step: act (the residual policy, or uniform actions during the
warm-up of methods with no prior), step the e-stop environment, store the
transition (with the frozen prior's outputs at ``s`` and ``s'``), then
``updates_per_step`` gradient updates of the method's kind:

- ``actor_critic`` (rift, avoid, finetune, oracle): the critics regress on
  :func:`~rift_core.neural.losses.soft_target`, then the actor minimises
  :func:`~rift_core.neural.losses.rift_actor_loss` (rift) or
  :func:`~rift_core.neural.losses.entropy_actor_loss` (the others), then the
  target critics move by Polyak averaging; with ``kl_budget``, ``alpha`` follows
  the dual ascent ``log alpha += alpha_lr (mean KL - kl_budget)``; the gradients are
  computed by hand (:mod:`~rift_core.neural.gradients`, checked against
  autograd on the same losses) and applied by torch's fused Adam kernel;
- ``stop_classifier`` (filter): a logistic classifier of ``P(stop | s, a)``;
- ``none`` (prior).

Which of these a method uses, what its actor is, which reward it learns from
and how it explores is one row of :data:`METHODS`; nothing else branches on
the method's name.

Randomness: ``TrainConfig.seed`` seeds network initialisation and separate
streams for the episodes (each episode is reset with a seed drawn from the
environment stream, and :class:`~rift_core.neural.estop.EStop` derives the
supervisor's stream from it), the actions, and the updates (replay indices and
sampled actions). Checkpoints are written at episode boundaries, so a run
resumed from one ends bit-identical to an uninterrupted run (single
environments; a vector environment's episodes in progress restart).
"""

from __future__ import annotations

import copy
import csv
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .buffers import ReplayBuffer
from .config import METHOD_NAMES, TrainConfig
from .gradients import (actor_output_grads, adam_step, critic_activations, critic_backward, policy_activations,
                        policy_backward)
from .losses import critic_loss, entropy_actor_loss, gaussian_kl, rift_actor_loss, soft_target
from .policies import (GaussianPolicy, ResidualPolicy, TwinCritic, _policy_from_payload, _policy_payload,
                       gaussian_log_prob, squashed_sample)

__all__ = ["Method", "METHODS", "Trainer", "CHECKPOINT_FORMAT"]

CHECKPOINT_FORMAT = "rift_core.checkpoint/1"


@dataclass(frozen=True)
class Method:
    """One row of the method table.

    Attributes
    ----------
    actor: ``residual`` (prior + zero-initialised residual), ``copy`` (a trainable copy of the prior),
        ``fresh`` (a new Gaussian policy) or ``prior`` (the frozen prior itself).
    regulariser: ``kl`` (KL to the prior), ``entropy`` (SAC's entropy bonus) or ``none``.
    reward: ``stop`` (the learner's e-stop reward) or ``task`` (the hidden task reward: the oracle).
    learns: ``actor_critic``, ``stop_classifier`` or ``none``.
    warmup: ``uniform`` (uniform actions before ``learning_starts``) or ``policy``.
    acts: ``policy`` or ``filter`` (rejection sampling from the prior by the stop classifier).
    """

    name: str
    actor: str
    regulariser: str
    reward: str
    learns: str
    warmup: str = "policy"
    acts: str = "policy"

    @property
    def needs_prior(self) -> bool:
        return self.actor in ("residual", "copy", "prior")


#: Every method the trainer runs, by name (the method table). RIFT is a residual actor with a KL to the prior,
#: trained on the stop reward; each baseline changes one or two of its columns.
METHODS: dict[str, Method] = {m.name: m for m in (
    Method("prior", actor="prior", regulariser="none", reward="stop", learns="none"),
    Method("rift", actor="residual", regulariser="kl", reward="stop", learns="actor_critic"),
    Method("avoid", actor="fresh", regulariser="entropy", reward="stop", learns="actor_critic", warmup="uniform"),
    Method("finetune", actor="copy", regulariser="none", reward="stop", learns="actor_critic"),
    Method("filter", actor="prior", regulariser="none", reward="stop", learns="stop_classifier", acts="filter"),
    Method("oracle", actor="fresh", regulariser="entropy", reward="task", learns="actor_critic", warmup="uniform"),
)}
assert tuple(METHODS) == METHOD_NAMES


def _seed_of(seq: np.random.SeedSequence) -> int:
    return int(seq.generate_state(1, np.uint64)[0] >> np.uint64(1))


class _SingleEnv:
    """A Gymnasium environment as a batch of one, each episode reset with a seed from the environment stream."""

    n = 1

    def __init__(self, env, rng: np.random.Generator):
        self.env, self.rng, self.episode_seed = env, rng, None

    def reset(self, seed: int | None = None) -> np.ndarray:
        self.episode_seed = int(self.rng.integers(0, 2**63 - 1)) if seed is None else int(seed)
        obs, _ = self.env.reset(seed=self.episode_seed)
        return np.asarray(obs, dtype=np.float32)[None]

    def step(self, actions: np.ndarray):
        obs, reward, term, trunc, info = self.env.step(actions[0])
        stored = np.asarray(obs, dtype=np.float32)[None]
        done = bool(term or trunc)
        nxt = self.reset() if done else stored
        return (stored, np.array([reward], np.float32), np.array([term]), np.array([done]),
                np.array([info["task_reward"]], np.float32), np.array([info["stopped"]]), nxt)


class _VectorEnv:
    """A Gymnasium vector environment with ``autoreset_mode=SAME_STEP`` (the true last observation is stored)."""

    def __init__(self, env, rng: np.random.Generator):
        from gymnasium.vector import AutoresetMode

        if env.metadata.get("autoreset_mode") != AutoresetMode.SAME_STEP:
            raise ValueError("a vector environment must reset in the same step: build it with "
                             "vector_kwargs={'autoreset_mode': gymnasium.vector.AutoresetMode.SAME_STEP}")
        self.env, self.rng, self.n, self.episode_seed = env, rng, env.num_envs, None

    def reset(self, seed: int | None = None) -> np.ndarray:
        seeds = [int(s) for s in self.rng.integers(0, 2**63 - 1, size=self.n)]
        obs, _ = self.env.reset(seed=seeds)
        return np.asarray(obs, dtype=np.float32)

    def step(self, actions: np.ndarray):
        obs, reward, term, trunc, info = self.env.step(actions)
        done = np.logical_or(term, trunc)
        stored = np.array(obs, dtype=np.float32)
        task_reward = np.asarray(info["task_reward"], np.float32).copy()
        stopped = np.asarray(info["stopped"], bool).copy()
        if done.any():
            final, final_info = info["final_obs"], info["final_info"]
            for i in np.flatnonzero(done):
                stored[i] = final[i]
                task_reward[i], stopped[i] = final_info["task_reward"][i], final_info["stopped"][i]
        return stored, np.asarray(reward, np.float32), np.asarray(term), done, task_reward, stopped, \
            np.asarray(obs, dtype=np.float32)


def _is_vector(env) -> bool:
    import gymnasium as gym

    return isinstance(env, gym.vector.VectorEnv)


class _Log:
    """Progress bar, CSV rows and (if ``tensorboard`` is installed) TensorBoard scalars."""

    def __init__(self, trainer: "Trainer", total: int, progress_bar: bool, log_dir):
        from ..progress import tqdm

        self.bar = tqdm(total=total, desc=trainer.cfg.method, disable=not progress_bar, unit="step")
        self.csv_path = self.writer = None
        if log_dir is not None:
            log_dir = Path(log_dir)
            log_dir.mkdir(parents=True, exist_ok=True)
            self.csv_path = log_dir / "progress.csv"
            rows = []
            if self.csv_path.exists():  # a resumed run: keep only the rows up to its checkpoint
                with open(self.csv_path) as f:
                    rows = [r for r in csv.DictReader(f) if int(r["step"]) <= trainer.step]
            with open(self.csv_path, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=_Log.FIELDS)
                w.writeheader()
                w.writerows(rows)
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # the optional ``tensorboard`` extra
                SummaryWriter = None
            if SummaryWriter is not None:
                self.writer = SummaryWriter(str(log_dir), purge_step=trainer.step)

    FIELDS = ("step", "episodes", "task_return", "stops_per_1000_steps", "kl", "alpha", "critic_loss", "time_s")

    def row(self, trainer: "Trainer", stats: dict) -> None:
        self.bar.set_postfix({k: f"{stats[k]:.3g}" for k in ("task_return", "stops_per_1000_steps", "kl", "alpha")
                              if stats.get(k) is not None}, refresh=False)
        if self.csv_path is not None:
            with open(self.csv_path, "a", newline="") as f:
                csv.DictWriter(f, fieldnames=_Log.FIELDS).writerow({k: stats.get(k) for k in _Log.FIELDS})
        if self.writer is not None:
            for k in _Log.FIELDS[2:]:
                if stats.get(k) is not None:
                    self.writer.add_scalar(k, stats[k], trainer.step)

    def close(self):
        self.bar.close()
        if self.writer is not None:
            self.writer.close()


class Trainer:
    """One run of neural RIFT or a baseline: ``Trainer(env, prior, TrainConfig(...)).learn()``.

    ``env``: an :class:`~rift_core.neural.estop.EStop`-wrapped Gymnasium environment with
    a flat ``Box`` observation and actions in ``[-1, 1]^d`` (wrap with
    ``gymnasium.wrappers.RescaleAction`` first), or a Gymnasium vector
    environment of them built with ``autoreset_mode=SAME_STEP``.
    ``prior``: a :class:`~rift_core.neural.GaussianPolicy` (the frozen prior of
    ``rift``, the start of ``finetune``, the policy of ``prior`` and ``filter``;
    unused by ``avoid`` and ``oracle``); see :func:`~rift_core.neural.prior_from_sb3`.

    After training: :meth:`predict` (batched, Stable-Baselines3's convention),
    :func:`~rift_core.neural.evaluate`, :meth:`save` / :meth:`load` (a full
    checkpoint), :func:`~rift_core.neural.save_policy` (the policy alone).
    """

    def __init__(self, env, prior: GaussianPolicy | None = None, config: TrainConfig | None = None):
        cfg = TrainConfig() if config is None else config
        if not isinstance(cfg, TrainConfig):
            raise TypeError(f"config is a {type(cfg).__name__}, expected a TrainConfig")
        method = METHODS[cfg.method]
        vector = _is_vector(env)
        obs_space = env.single_observation_space if vector else env.observation_space
        act_space = env.single_action_space if vector else env.action_space
        if len(getattr(obs_space, "shape", ()) or ()) != 1:
            raise ValueError(f"env.observation_space must be a flat Box, got {obs_space}")
        if len(getattr(act_space, "shape", ()) or ()) != 1 or not (np.all(act_space.low == -1) and np.all(act_space.high == 1)):
            raise ValueError(f"env.action_space must be Box([-1, 1]^d), got {act_space} "
                             "(wrap the environment in gymnasium.wrappers.RescaleAction(env, -1, 1))")
        obs_dim, act_dim = obs_space.shape[0], act_space.shape[0]
        if method.needs_prior and prior is None:
            raise ValueError(f"method {cfg.method!r} needs a prior")
        if prior is not None and method.needs_prior and (prior.obs_dim, prior.act_dim) != (obs_dim, act_dim):
            raise ValueError(f"prior maps {prior.obs_dim} observations to {prior.act_dim} actions; "
                             f"the environment has {obs_dim} and {act_dim}")
        self.env, self.cfg, self.method = env, cfg, method
        self.device = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available() else
                                   ("cpu" if cfg.device == "auto" else cfg.device))
        init, env_seq, act_seq, update_seq, predict_seq = np.random.SeedSequence(cfg.seed).spawn(5)
        self._env_rng, self._act_rng, self._update_rng, self._predict_rng = (
            np.random.default_rng(s) for s in (env_seq, act_seq, update_seq, predict_seq))
        self._act_gen = torch.Generator().manual_seed(_seed_of(act_seq))
        self._update_gen = torch.Generator(device=self.device).manual_seed(_seed_of(update_seq))
        self._predict_gen = torch.Generator().manual_seed(_seed_of(predict_seq))
        self.prior = prior.to(self.device).eval() if prior is not None and method.needs_prior else None
        if self.prior is not None:
            for p in self.prior.parameters():
                p.requires_grad_(False)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(_seed_of(init))
            self.actor = {"residual": lambda: ResidualPolicy(self.prior, cfg.hidden),
                          "copy": lambda: copy.deepcopy(self.prior).requires_grad_(True),
                          "fresh": lambda: GaussianPolicy(obs_dim, act_dim, cfg.hidden),
                          "prior": lambda: self.prior}[method.actor]().to(self.device)
            learns_ac = method.learns == "actor_critic"
            self.critic = TwinCritic(obs_dim, act_dim, cfg.hidden).to(self.device) if learns_ac else None
            self.stop_model = TwinCritic(obs_dim, act_dim, cfg.hidden, n=1).to(self.device) \
                if method.learns == "stop_classifier" else None
        self.target = copy.deepcopy(self.critic).requires_grad_(False) if self.critic is not None else None
        trainable = [p for p in self.actor.parameters() if p.requires_grad]
        # fused Adam: one kernel for all parameters instead of a Python loop over them (CPU and CUDA)
        adam = lambda params, lr: torch.optim.Adam(params, lr=lr, fused=True)  # noqa: E731
        self.actor_opt = adam(trainable, cfg.actor_lr) if learns_ac and trainable else None
        # the hand-written update hands Adam its gradients, and Polyak averaging pairs critic and target, in this order
        self._critic_params = [*self.critic.weights, *self.critic.biases] if learns_ac else []
        self._target_params = [*self.target.weights, *self.target.biases] if learns_ac else []
        self.critic_opt = adam(self._critic_params, cfg.critic_lr) if learns_ac else None
        self.stop_opt = adam(self.stop_model.parameters(), cfg.critic_lr) if self.stop_model else None
        self.log_alpha = torch.tensor(math.log(cfg.alpha), device=self.device)
        self.buffer = ReplayBuffer(cfg.buffer_size, obs_dim, act_dim, prior_outputs=method.regulariser == "kl")
        self.step = self.total_stops = 0
        self.episodes: list[dict] = []  # per finished episode: task_return, stops, length, step
        self.updates: list[dict] = []   # per log interval: step and the last update's statistics
        self._envs = (_VectorEnv if vector else _SingleEnv)(env, self._env_rng)
        self._obs = self._envs.reset()
        self._ep = np.zeros((self._envs.n, 3))  # per environment: task return, stops, length
        self._update_credit = 0.0
        self._obs_prior = None  # the prior's outputs at self._obs, when already computed
        self._last_stats: dict = {}
        # the update's two halves, compiled on request (the first call compiles)
        self._critic_grads_fn, self._actor_grads_fn = (
            (torch.compile(self._critic_grads, dynamic=False), torch.compile(self._actor_grads, dynamic=False))
            if cfg.compile else (self._critic_grads, self._actor_grads))
        self._update = {"actor_critic": self._update_actor_critic, "stop_classifier": self._update_stop_classifier,
                        "none": None}[method.learns]

    # ------------------------------------------------------------------ acting
    @property
    def alpha(self) -> float:
        """The current KL weight (entropy temperature for avoid and oracle)."""
        return float(self.log_alpha.exp())

    def _policy_action(self, x: torch.Tensor, deterministic: bool, generator, np_rng, prior_out=None):
        """Actions for observations ``x`` (n, obs_dim) and, for rift, the prior's outputs at ``x``."""
        # policy_activations: the networks' forward pass without nn.Module's per-call overhead
        if self.method.regulariser == "kl" and prior_out is None:
            prior_out = policy_activations(self.prior, x)[:2]
        mu, log_std = policy_activations(self.actor, x, prior_out)[:2]
        if deterministic:
            return torch.tanh(mu), prior_out
        if self.method.acts == "filter":
            return self._filtered(x, mu, log_std, generator, np_rng), prior_out
        return squashed_sample(mu, log_std, generator, log_prob=False)[0], prior_out

    def _filtered(self, x, mu, log_std, generator, np_rng) -> torch.Tensor:
        """Rejection sampling from the prior by the learned stop probability (the least risky if all are rejected)."""
        n, k = x.shape[0], self.cfg.filter_samples
        cand = squashed_sample(mu[:, None].expand(n, k, -1), log_std[:, None].expand(n, k, -1), generator,
                               log_prob=False)[0]
        p_stop = torch.sigmoid(self.stop_model(x[:, None].expand(n, k, -1).reshape(n * k, -1),
                                               cand.reshape(n * k, -1))[0]).reshape(n, k).cpu().numpy()
        accept = np_rng.uniform(size=(n, k)) >= p_stop
        pick = np.where(accept.any(1), accept.argmax(1), p_stop.argmin(1))
        return cand[torch.arange(n), torch.as_tensor(pick)]

    @torch.no_grad()
    def predict(self, obs, deterministic: bool = False, generator: torch.Generator | None = None):
        """Actions in ``[-1, 1]^d`` for ``obs`` of shape ``(obs_dim,)`` or ``(n, obs_dim)``.

        Returns ``(action, None)`` (Stable-Baselines3's convention). Sampling draws
        from ``generator``, or from a stream of the trainer's own that training
        never reads, so predicting does not change a run's results.
        """
        x = torch.as_tensor(np.asarray(obs, dtype=np.float32), device=self.device)
        single = x.ndim == 1
        a, _ = self._policy_action(x[None] if single else x, deterministic, generator or self._predict_gen,
                                   self._predict_rng)
        a = a.cpu().numpy()
        return (a[0] if single else a), None

    # ------------------------------------------------------------------ updates
    def _update_actor_critic(self) -> None:
        """One critic step, one actor step, one Polyak step; gradients by hand (:mod:`~rift_core.neural.gradients`).

        The two halves are pure tensor functions (:meth:`_critic_grads`, :meth:`_actor_grads`), each compiled with
        ``TrainConfig.compile``; the random draws, the finiteness checks and Adam stay outside them.
        """
        cfg = self.cfg
        b = self.buffer.sample(cfg.batch_size, self._update_rng)
        if self.device.type != "cpu":
            b = {k: v.to(self.device, non_blocking=True) for k, v in b.items()}
        shape = (cfg.batch_size, self.actor.act_dim)
        with torch.no_grad():
            alpha = self.log_alpha.exp()
            eps_next = torch.randn(shape, generator=self._update_gen, device=self.device)
            loss_q, grads, actor_cast = self._critic_grads_fn(b, eps_next, alpha)
            self._check_finite(loss_q, "critic")  # before the step: a NaN never reaches the weights
            adam_step(self.critic_opt, grads)
            eps = torch.randn(shape, generator=self._update_gen, device=self.device)
            loss_pi, kl, grads = self._actor_grads_fn(b, eps, alpha, actor_cast)
            self._check_finite(loss_pi, "actor")
            adam_step(self.actor_opt, grads)
            mean_kl = float(kl) if kl is not None else None
            if cfg.kl_budget is not None:  # dual ascent: raise alpha while the KL exceeds its budget
                self.log_alpha += cfg.alpha_lr * (mean_kl - cfg.kl_budget)
            torch._foreach_lerp_(self._target_params, self._critic_params, cfg.tau)
        self._last_stats = {"critic_loss": loss_q, "kl": mean_kl, "alpha": None}

    def _critic_grads(self, b: dict, eps_next: torch.Tensor, alpha: torch.Tensor):
        """``(L_Q, dL_Q/dtheta, actor weights cast)``: regress the critics on
        ``y = r + gamma (1 - term) (min_j Q'_j(s', a') + bonus)`` with ``a' = tanh(mu' + sigma' eps_next)``,
        ``pi(.|s')`` the current actor."""
        cfg, reg = self.cfg, self.method.regulariser
        dtype = torch.bfloat16 if cfg.bf16 else torch.float32
        next_prior = (b["next_mu0"], b["next_log_std0"]) if reg == "kl" else None
        mu, log_std, _, hs_next = policy_activations(self.actor, b["next"], next_prior, dtype)
        a2, u2, logp2 = squashed_sample(mu, log_std, log_prob=reg == "entropy", eps=eps_next)
        next_q = critic_activations(self.target, torch.cat([b["next"], a2], dim=1), dtype)[-1][..., 0].float()
        if reg == "kl":
            bonus = -alpha * (gaussian_log_prob(u2, mu, log_std) - gaussian_log_prob(u2, *next_prior))
        elif reg == "entropy":
            bonus = -alpha * logp2
        else:
            bonus = 0.0
        y = soft_target(b["rew"], b["term"], cfg.gamma, next_q, bonus)
        hs = critic_activations(self.critic, torch.cat([b["obs"], b["act"]], dim=1), dtype)
        q = hs[-1][..., 0].float()
        dw, db, _ = critic_backward(self.critic, hs, (q - y) * (2.0 / q.numel()), dtype)
        return critic_loss(q, y), dw + db, hs_next.weights

    def _actor_grads(self, b: dict, eps: torch.Tensor, alpha: torch.Tensor, actor_cast: list[torch.Tensor]):
        """``(L_pi, mean KL or None, dL_pi/dphi)`` of ``L_pi = mean [alpha R - min_j Q_j(s, a)]``,
        ``a = tanh(mu + sigma eps)``, ``R`` the method's regulariser."""
        cfg, reg = self.cfg, self.method.regulariser
        dtype = torch.bfloat16 if cfg.bf16 else torch.float32
        obs, n_obs = b["obs"], b["obs"].shape[1]
        prior_out = (b["mu0"], b["log_std0"]) if reg == "kl" else None
        # the actor has not changed since _critic_grads: its weights need no second cast
        mu, log_std, log_std_raw, hs_pi = policy_activations(self.actor, obs, prior_out, dtype, actor_cast)
        a, u, logp = squashed_sample(mu, log_std, log_prob=reg == "entropy", eps=eps)
        hq = critic_activations(self.critic, torch.cat([obs, a], dim=1), dtype)
        q_pi = hq[-1][..., 0].float()
        dq = torch.zeros_like(q_pi).scatter_(0, q_pi.min(0).indices[None], -1.0 / q_pi.shape[1])
        g_action = critic_backward(self.critic, hq, dq, dtype, weights=False, input_rows=slice(n_obs, None))[2]
        kl = gaussian_kl(mu, log_std, *prior_out) if reg == "kl" else None
        if reg == "kl":
            loss_pi = rift_actor_loss(q_pi, kl, alpha)
        elif reg == "entropy":
            loss_pi = entropy_actor_loss(q_pi, logp, alpha)
        else:  # plain fine-tuning: no regulariser
            loss_pi = entropy_actor_loss(q_pi, torch.zeros_like(q_pi[0]), 0.0)
        d_mu, d_log_std = actor_output_grads(reg, alpha, g_action, mu, log_std, eps, a, prior_out)
        grads = policy_backward(self.actor, hs_pi, d_mu, d_log_std, log_std_raw, dtype)
        return loss_pi, (kl.mean() if kl is not None else None), grads

    def _check_finite(self, loss: torch.Tensor, which: str) -> None:
        if not torch.isfinite(loss):
            raise FloatingPointError(f"step {self.step}: non-finite {which} loss {float(loss)}")

    def _update_stop_classifier(self) -> None:
        b = self.buffer.sample(self.cfg.batch_size, self._update_rng)
        logits = self.stop_model(b["obs"].to(self.device), b["act"].to(self.device))[0]
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, (b["rew"] < 0).float().to(self.device))
        self._check_finite(loss, "stop-classifier")
        self.stop_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.stop_opt.step()
        self._last_stats = {"stop_loss": loss.detach()}

    # ------------------------------------------------------------------ the loop
    def _collect(self) -> bool:
        """One step of every environment; returns whether an episode ended."""
        cfg, n = self.cfg, self._envs.n
        x = torch.as_tensor(self._obs, device=self.device)
        with torch.no_grad():
            if self.method.warmup == "uniform" and self.step < cfg.learning_starts:
                action = torch.as_tensor(self._act_rng.uniform(-1.0, 1.0, size=(n, self.actor.act_dim)),
                                         dtype=torch.float32)
                prior_out = None
            else:
                action, prior_out = self._policy_action(x, False, self._act_gen, self._act_rng, self._obs_prior)
            action_np = action.cpu().numpy()
            stored, reward, term, done, task_reward, stopped, nxt = self._envs.step(action_np)
            if not np.isfinite(stored).all():
                i, j = np.argwhere(~np.isfinite(stored))[0]
                raise FloatingPointError(f"step {self.step}: non-finite observation (environment {i}, entry {j}: "
                                         f"{stored[i, j]})")
            fields = {"obs": x, "act": action, "rew": task_reward if self.method.reward == "task" else reward,
                      "next": stored, "term": term.astype(np.float32)}
            if self.method.regulariser == "kl":
                if prior_out is None:
                    prior_out = policy_activations(self.prior, x)[:2]
                nxt_prior = policy_activations(self.prior, torch.as_tensor(stored, device=self.device))[:2]
                fields.update(mu0=prior_out[0].cpu(), log_std0=prior_out[1].cpu(),
                              next_mu0=nxt_prior[0].cpu(), next_log_std0=nxt_prior[1].cpu())
                # the prior at the next acting observation: the same as at s' unless an episode restarted
                self._obs_prior = (policy_activations(self.prior, torch.as_tensor(nxt, device=self.device))[:2]
                                   if done.any() else nxt_prior)
            self.buffer.add(**fields)
        self._ep += np.stack([task_reward, stopped, np.ones(n)], axis=1)
        self.step += n
        self.total_stops += int(stopped.sum())
        for i in np.flatnonzero(done):
            r, s, length = self._ep[i]
            self.episodes.append({"task_return": float(r), "stops": int(s), "length": int(length), "step": self.step})
            self._ep[i] = 0.0
        self._obs = nxt
        return bool(done.any())

    def learn(self, steps: int | None = None, *, callback: Callable[["Trainer"], object] | None = None,
              callback_every: int = 1_000, checkpoint: str | os.PathLike | None = None,
              checkpoint_every: int = 2_000, log_dir: str | os.PathLike | None = None,
              progress_bar: bool = False) -> "Trainer":
        """Train for ``steps`` more environment steps (default: until ``total_steps``).

        Parameters
        ----------
        callback: ``callback(trainer)`` every ``callback_every`` steps (evaluation, custom checkpoints);
            returning ``False`` stops training.
        checkpoint: a path; the full state is saved there at the first episode end after every
            ``checkpoint_every`` steps, so :meth:`load` resumes bit-identically.
        log_dir: writes ``progress.csv`` (step, episodes, task return of the last 10 episodes, stops per
            1,000 steps since the last row, KL, alpha, critic loss, wall time) every ``log_every`` steps,
            and TensorBoard event files when ``tensorboard`` is installed.
        progress_bar: a tqdm bar with the same statistics.
        """
        cfg = self.cfg
        end = cfg.total_steps if steps is None else self.step + int(steps)
        log = _Log(self, max(end - self.step, 0), progress_bar, log_dir)
        next_log = (self.step // cfg.log_every + 1) * cfg.log_every
        next_callback = (self.step // callback_every + 1) * callback_every
        next_checkpoint = self.step + checkpoint_every
        window_start, window_stops, t0 = self.step, self.total_stops, time.perf_counter()
        try:
            while self.step < end:
                before = self.step
                ended = self._collect()
                if self._update is not None and self.step >= cfg.learning_starts and self.buffer.size >= cfg.batch_size:
                    self._update_credit += (self.step - before) * cfg.updates_per_step
                    while self._update_credit >= 1.0:
                        self._update()
                        self._update_credit -= 1.0
                log.bar.update(self.step - before)
                if self.step >= next_log:
                    next_log += cfg.log_every
                    stats = {k: (float(v) if v is not None else None) for k, v in self._last_stats.items()}
                    stats["alpha"] = self.alpha
                    self.updates.append({**stats, "step": self.step})
                    recent = self.episodes[-10:]
                    log.row(self, {**stats, "step": self.step, "episodes": len(self.episodes),
                                   "task_return": float(np.mean([e["task_return"] for e in recent])) if recent else None,
                                   "stops_per_1000_steps": 1000.0 * (self.total_stops - window_stops)
                                   / max(self.step - window_start, 1), "time_s": time.perf_counter() - t0})
                    window_start, window_stops = self.step, self.total_stops
                if checkpoint is not None and self.step >= next_checkpoint and (ended or self._envs.n > 1):
                    self.save(checkpoint)
                    next_checkpoint = self.step + checkpoint_every
                if callback is not None and self.step >= next_callback:
                    next_callback += callback_every
                    if callback(self) is False:
                        break
        finally:
            log.close()
        return self

    # ------------------------------------------------------------------ checkpoints
    def state(self) -> dict:
        """Everything needed to resume, as tensors and plain values (loadable with ``weights_only=True``)."""
        sd = lambda m: {k: v.detach().cpu().clone() for k, v in m.state_dict().items()} if m is not None else None  # noqa: E731
        return {"format": CHECKPOINT_FORMAT, "config": asdict(self.cfg),
                "prior": _policy_payload(self.prior) if self.prior is not None else None,
                "actor": sd(self.actor), "critic": sd(self.critic), "target": sd(self.target),
                "stop_model": sd(self.stop_model),
                "optimizers": {k: (o.state_dict() if o is not None else None) for k, o in
                               (("actor", self.actor_opt), ("critic", self.critic_opt), ("stop", self.stop_opt))},
                "log_alpha": self.log_alpha.detach().cpu().clone(), "buffer": self.buffer.state(), "step": self.step,
                "total_stops": self.total_stops,
                "episodes": list(self.episodes), "updates": list(self.updates),
                "rng": {"env": self._env_rng.bit_generator.state, "act": self._act_rng.bit_generator.state,
                        "update": self._update_rng.bit_generator.state,
                        "predict": self._predict_rng.bit_generator.state, "act_torch": self._act_gen.get_state(),
                        "update_torch": self._update_gen.get_state().cpu(), "predict_torch": self._predict_gen.get_state()},
                "episode_seed": self._envs.episode_seed, "exact_resume": self._envs.n == 1 and not self._ep.any(),
                "update_credit": self._update_credit, "episode_accumulators": torch.from_numpy(self._ep.copy())}

    def save(self, path: str | os.PathLike) -> Path:
        """Checkpoint atomically (a temporary file, then ``os.replace``): a kill never leaves half a file."""
        from ..provenance import atomic_write

        state = self.state()
        return atomic_write(path, lambda f: torch.save(state, f), binary=True)

    @classmethod
    def load(cls, path: str | os.PathLike, env, prior: GaussianPolicy | None = None,
             config: TrainConfig | None = None) -> "Trainer":
        """Rebuild a trainer from a checkpoint written by :meth:`save` (``torch.load(weights_only=True)``).

        The configuration and the prior come from the file; a ``prior`` or ``config`` passed in must equal
        them (a mismatch names the fields that differ). Errors about an unreadable file name it.
        """
        path = Path(path)
        try:
            state = torch.load(path, weights_only=True)
            if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
                raise ValueError(f"format {state.get('format') if isinstance(state, dict) else None!r}, "
                                 f"expected {CHECKPOINT_FORMAT!r}")
            stored = TrainConfig(**state["config"])
        except FileNotFoundError:
            raise
        except Exception as e:  # noqa: BLE001 - any failure to read means a corrupt or foreign file
            raise ValueError(f"{path}: not a readable rift_core checkpoint ({type(e).__name__}: {e})") from e
        if config is not None and config != stored:
            diff = ", ".join(f"{k}: checkpoint {a!r} vs {b!r}" for k, (a, b) in stored.differences(config).items())
            raise ValueError(f"{path}: checkpoint config differs in {diff}")
        stored_prior = _policy_from_payload(state["prior"], str(path)) if state["prior"] is not None else None
        if prior is not None and stored_prior is not None:
            theirs, ours = stored_prior.state_dict(), prior.state_dict()
            if theirs.keys() != ours.keys() or any(not torch.equal(theirs[k], ours[k].cpu()) for k in theirs):
                raise ValueError(f"{path}: the prior passed in differs from the checkpoint's prior")
        trainer = cls(env, prior if prior is not None else stored_prior, stored)
        trainer._restore(state, path)
        return trainer

    def _restore(self, s: dict, path: Path) -> None:
        try:
            self.actor.load_state_dict(s["actor"])
            for name in ("critic", "target", "stop_model"):
                if getattr(self, name) is not None:
                    getattr(self, name).load_state_dict(s[name])
            for name, opt in (("actor", self.actor_opt), ("critic", self.critic_opt), ("stop", self.stop_opt)):
                if opt is not None:
                    opt.load_state_dict(s["optimizers"][name])
            self.log_alpha = s["log_alpha"].to(self.device)
            self.buffer.load_state(s["buffer"])
            self.step, self.episodes, self.updates = int(s["step"]), list(s["episodes"]), list(s["updates"])
            rng = s["rng"]
            self._env_rng.bit_generator.state = rng["env"]
            self._act_rng.bit_generator.state = rng["act"]
            self._update_rng.bit_generator.state = rng["update"]
            self._predict_rng.bit_generator.state = rng["predict"]
            self.total_stops = int(s["total_stops"])
            self._act_gen.set_state(rng["act_torch"])
            self._update_gen.set_state(rng["update_torch"].to(self._update_gen.device) if self.device.type == "cpu"
                                       else rng["update_torch"])
            self._predict_gen.set_state(rng["predict_torch"])
            self._update_credit = float(s["update_credit"])
            self._ep = s["episode_accumulators"].numpy().copy()
        except (KeyError, RuntimeError, TypeError, ValueError) as e:
            raise ValueError(f"{path}: checkpoint does not fit this trainer ({type(e).__name__}: {e})") from e
        # resume at the start of the episode that was current: same seed, same first observation
        self._obs_prior = None
        self._obs = self._envs.reset(seed=s["episode_seed"]) if s["exact_resume"] else self._envs.reset()
        if not s["exact_resume"]:
            self._ep[:] = 0.0
