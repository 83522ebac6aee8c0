"""rift_core: Residual Intervention Fine-Tuning, exact and sampled.

The tabular core is exact (linear solves and contraction fixed points):

- :mod:`rift_core.mdp`: :class:`FiniteMDP`, :class:`StopSupervisor` and the two stop semantics;
- :mod:`rift_core.evaluation`: exact ``J_r``, ``J_I``, ``p_stop``, ``D``, ``d_pi``;
- :mod:`rift_core.rift`: the soft Bellman solve of RIFT (the book's ``thm-residual-form``);
- :mod:`rift_core.planning`: hard-max policy iteration and the optimal task advantage;
- :mod:`rift_core.supervisors`: intervention strategies;
- :mod:`rift_core.baselines`: prior, avoid, finetune, filter, oracle;
- :mod:`rift_core.bounds`: the theorems' bounds;
- :mod:`rift_core.tabular_envs`: random MDPs, the cliff corridor, gridworlds;
- :mod:`rift_core.instances`: the random instance families the theorems are checked on.

Learning from data: :mod:`rift_core.sampling` (e-stop trajectories),
:mod:`rift_core.learning` (sample-based RIFT, safe by default),
:mod:`rift_core.confidence` (confidence sets, pessimistic values, the data
certificate), :mod:`rift_core.linear` (linear RIFT), :mod:`rift_core.statistics`
(interquartile mean, bootstrap intervals).
Scale: :mod:`rift_core.sparse` (10^6-state solvers, needs numba) and
:mod:`rift_core.batched` (many small MDPs at once). Continuous control:
:mod:`rift_core.gym_envs` (PointNav), :mod:`rift_core.estop` (the e-stop wrapper
and supervisors), :mod:`rift_core.neural` (neural RIFT, torch). Stored results:
:mod:`rift_core.provenance`, :mod:`rift_core.experiments`.
"""

from . import baselines, instances, supervisors, tabular_envs
from .evaluation import PolicyEvaluation, evaluate_policy, kl_per_state
from .mdp import FiniteMDP, StopSupervisor, no_stops
from .rift import ConvergenceWarning, SoftSolution, soft_policy_iteration, soft_value_iteration, solve_rift

__version__ = "0.1.0"

__all__ = [
    "FiniteMDP",
    "StopSupervisor",
    "no_stops",
    "PolicyEvaluation",
    "evaluate_policy",
    "kl_per_state",
    "SoftSolution",
    "ConvergenceWarning",
    "solve_rift",
    "soft_value_iteration",
    "soft_policy_iteration",
    "baselines",
    "supervisors",
    "tabular_envs",
    "instances",
]
