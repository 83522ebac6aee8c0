r"""Neural RIFT for continuous control (torch): bring any Gymnasium environment and a Gaussian prior.

A frozen Gaussian prior ``pi0(a | s) = N(mu0(s), sigma0(s))`` over pre-tanh actions,
a residual policy whose zero-initialised head starts it exactly at the prior,
and one off-policy trainer for RIFT and its baselines:

- :mod:`~rift_core.neural.policies`: :class:`GaussianPolicy`, :class:`ResidualPolicy`,
  :class:`TwinCritic`, :func:`save_policy` / :func:`load_policy`, :func:`save_expert` /
  :func:`load_expert` (an actor with its critic), :func:`prior_from_sb3`;
- :mod:`~rift_core.neural.losses`: the losses as pure functions;
- :mod:`~rift_core.neural.gradients`: their gradients by hand, which the trainer's update runs (checked against autograd);
- :mod:`~rift_core.neural.buffers`: the replay buffer (with the prior's outputs stored);
- :mod:`~rift_core.neural.trainer`: :class:`Trainer` and the method table :data:`METHODS`;
- :mod:`~rift_core.neural.config`: :class:`TrainConfig`;
- :mod:`~rift_core.neural.evaluation`: :func:`evaluate`;
- :mod:`~rift_core.neural.imitation`: behaviour cloning, the value-gap supervisor from an expert;
- :mod:`~rift_core.neural.diagnostics`: :func:`critic_check`, the critic against Monte-Carlo values off the data.

The objective, per state visited, is the book's RIFT objective: stop avoidance
``E[-stop]`` minus ``alpha KL(pi(.|s) || pi0(.|s))`` (see the neural chapter).
"""

from .buffers import ReplayBuffer
from .config import METHOD_NAMES, ConfigError, TrainConfig
from .evaluation import Evaluation, evaluate
from .imitation import (behaviour_cloning, demonstrations, expert_value_gaps, value_gap_from_expert,
                        value_gap_from_trainer)
from .diagnostics import CertificateTrace, CriticCheck, certificate_trace, critic_check, discounted_stop_probability
from .losses import critic_loss, entropy_actor_loss, gaussian_kl, rift_actor_loss, soft_target
from .policies import (GaussianPolicy, ResidualPolicy, TwinCritic, gaussian_log_prob, load_expert, load_policy,
                       prior_from_sb3, save_expert, save_policy, squashed_sample)
from .trainer import METHODS, Method, Trainer

__all__ = ["GaussianPolicy", "ResidualPolicy", "TwinCritic", "ReplayBuffer", "TrainConfig", "ConfigError", "Trainer",
           "Method", "METHODS", "METHOD_NAMES", "Evaluation", "evaluate", "save_policy", "load_policy",
           "save_expert", "load_expert", "prior_from_sb3", "behaviour_cloning", "demonstrations",
           "value_gap_from_expert", "value_gap_from_trainer", "expert_value_gaps", "gaussian_kl",
           "gaussian_log_prob", "squashed_sample", "soft_target", "critic_loss", "rift_actor_loss",
           "entropy_actor_loss", "critic_check", "CriticCheck", "certificate_trace", "CertificateTrace",
           "discounted_stop_probability"]
