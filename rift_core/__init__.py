"""rift_core: Residual Intervention Fine-Tuning, exact and sampled, in four layers.

- :mod:`rift_core.exact`: the exact core. Tabular MDPs with a stop supervisor
  (:mod:`~rift_core.exact.mdp`), exact evaluation (:mod:`~rift_core.exact.evaluation`), the soft
  Bellman problem and its one solver loop with dense, CSR (:mod:`~rift_core.exact.sparse`, needs numba)
  and stacked (:mod:`~rift_core.exact.batched`) backends (:mod:`~rift_core.exact.rift`, the book's
  ``thm-residual-form``), hard planning, linear RIFT, supervisors, baselines, the theorems' bounds, and the
  MDP families the theorems are checked on.
- :mod:`rift_core.data`: learning from e-stop data. Trajectories (:mod:`~rift_core.data.sampling`),
  sample-based RIFT, safe by default (:mod:`~rift_core.data.learning`), confidence sets and the data
  certificate (:mod:`~rift_core.data.confidence`).
- :mod:`rift_core.neural`: continuous control (torch): the e-stop wrapper and supervisors
  (:mod:`~rift_core.neural.estop`), PointNav (:mod:`~rift_core.neural.gym_envs`), and neural RIFT.
- :mod:`rift_core.experiments`: the experiment layer and its command line; stored results carry
  :mod:`rift_core.provenance`; :mod:`rift_core.statistics` has the interquartile mean and bootstrap intervals.

The names below are importable from ``rift_core`` itself.
"""

from .exact import baselines, bounds, instances, supervisors, tabular_envs
from .exact.evaluation import PolicyEvaluation, evaluate_policy, kl_per_state
from .exact.mdp import FiniteMDP, StopSupervisor, no_stops
from .exact.rift import ConvergenceWarning, SoftSolution, soft_policy_iteration, soft_value_iteration, solve_rift

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
    "bounds",
    "supervisors",
    "tabular_envs",
    "instances",
]
