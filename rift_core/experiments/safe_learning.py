r"""Safe sample-based RIFT, measured: learning curves from scarce data, and the certificate's coverage.

Two commands write the results the book's ``safe-learning`` chapter renders::

    python -m rift_core.experiments.safe_learning curves     # notebooks/results/safe_learning/curves.json
    python -m rift_core.experiments.safe_learning coverage   # notebooks/results/safe_learning/coverage.json

**Curves.** On the cliff corridor, for every prior quality and supervisor of the
robustness table's family, every episode budget and seed: the prior collects a
dataset; each mechanism of :func:`~rift_core.data.learning.fitted_soft_q_iteration`
(``lcb``, the default; ``spibb``; ``none``, optimistic) learns from it; each
policy is evaluated exactly and certified from the data
(:func:`~rift_core.data.confidence.certify`). Each (cell, budget, seed) has its own
random stream, so any slice re-runs to the same numbers.

**Coverage.** Thousands of datasets, each from a fresh random MDP of the
theorem sweeps (:func:`~rift_core.exact.instances.random_instance`) or a
constructed corridor, of a random size. The certificate's claims (the prior's
bracket, and the lower bounds for the policies of all three mechanisms) must
hold jointly with frequency at least ``1 - delta``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, dataclass

import numpy as np

from .. import evaluate_policy, solve_rift
from ..exact import tabular_envs
from ..exact.instances import random_instance
from ..data.confidence import certify
from ..data.learning import PESSIMISM, fitted_soft_q_iteration
from ..provenance import provenance, write_results
from ..data.sampling import rollout
from .robustness import PRIORS, SUPERVISORS, CorridorStudy, check_positive_fields, corridor_priors, corridor_supervisors

__all__ = ["CurvesConfig", "CoverageConfig", "run_curves", "run_coverage", "main"]

CURVE_SUPERVISORS = ("precise", "safety", "noisy (low)", "random")
CURVES_STREAM, COVERAGE_STREAM = 7301, 7302  # keep the two experiments' random streams apart


def _check_delta(delta) -> None:
    if not 0 < delta < 1:
        raise ValueError(f"delta is {delta!r}, expected a value in (0, 1)")


@dataclass(frozen=True)
class CurvesConfig(CorridorStudy):
    """Every knob of the learning curves: those of :class:`~rift_core.experiments.robustness.CorridorStudy`
    (``seeds`` datasets per prior, supervisor and budget), and

    Attributes
    ----------
    episodes: the episode budgets (datasets collected by the prior).
    alpha: RIFT's regularisation strength (small: the regime where optimism hurts most).
    delta: the confidence level of ``lcb`` and of the certificate.
    spibb_threshold: SPIBB's ``N_wedge``.
    """

    supervisor_names: tuple[str, ...] = CURVE_SUPERVISORS
    episodes: tuple[int, ...] = (5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
    alpha: float = 0.01
    delta: float = 0.05
    spibb_threshold: int = 10

    def __post_init__(self):
        super().__post_init__()
        check_positive_fields(self, ("spibb_threshold",))
        if not self.episodes or any(not isinstance(n, int) or n < 1 for n in self.episodes):
            raise ValueError(f"episodes is {self.episodes!r}, expected positive integers")
        _check_delta(self.delta)
        if not self.alpha > 0:
            raise ValueError(f"alpha is {self.alpha!r}, expected > 0")


def _corridor(cfg):
    task = tabular_envs.cliff_corridor(cfg.corridor_length, cfg.p_fall, cfg.gamma)
    return task, corridor_priors(task.mdp.n_states, cfg.corridor_length), corridor_supervisors(task)


def _assess(mdp, sup, data, pi0, alpha, delta, exact_policy, exact_objective, spibb_threshold) -> dict:
    """Each mechanism's policy from one dataset: exact figures against the prior and exact RIFT, and its certificate."""
    ev0 = evaluate_policy(mdp, sup, pi0)
    out = {}
    for mech in PESSIMISM:
        pi = fitted_soft_q_iteration(data, pi0, alpha, mdp.gamma, pessimism=mech, delta=delta,
                                     spibb_threshold=spibb_threshold).policy
        ev = evaluate_policy(mdp, sup, pi, pi0)
        cert = certify(data, pi, pi0, alpha, mdp.gamma, delta=delta, collected_by_prior=True)
        objective = ev.rift_objective(alpha)
        out[mech] = dict(objective_gain=objective - ev0.stop_value, stop_gain=ev.stop_value - ev0.stop_value,
                         p_stop=ev.p_stop, task_return=ev.task_return,
                         certified_gain=cert.improvement_lower, certified_stop_gain=cert.stop_improvement_lower,
                         epsilon=cert.epsilon, prior_lower=cert.prior_stop_value_lower,
                         prior_upper=cert.prior_stop_value_upper,
                         gap_to_exact=exact_objective - objective,
                         policy_error=float(np.abs(pi - exact_policy).max()))
    return out


def run_curves(cfg: CurvesConfig, progress: bool = True) -> dict:
    """Run the grid; returns ``{"columns": {name: [...]}, "prior": {...}, "exact": {...}}`` (one entry per record)."""
    from ..progress import tqdm

    task, priors, sups = _corridor(cfg)
    mdp = task.mdp
    columns: dict[str, list] = {}
    prior_figures, exact_figures = {}, {}
    cells = [(p, s, n) for p in cfg.priors for s in cfg.supervisor_names for n in cfg.episodes]
    for prior_name, sup_name, n in tqdm(cells, desc="safe-learning curves", disable=not progress):
        pi0, sup = priors[prior_name], sups[sup_name]
        exact = solve_rift(mdp, sup, pi0, cfg.alpha)
        ev0, evx = evaluate_policy(mdp, sup, pi0), evaluate_policy(mdp, sup, exact.policy, pi0)
        key = f"{prior_name}|{sup_name}"
        prior_figures[key] = dict(stop_value=ev0.stop_value, task_return=ev0.task_return)
        exact_figures[key] = dict(objective_gain=evx.rift_objective(cfg.alpha) - ev0.stop_value,
                                  task_return=evx.task_return, p_stop=evx.p_stop)
        for seed in range(cfg.seeds):
            rng = np.random.default_rng([CURVES_STREAM, PRIORS.index(prior_name), SUPERVISORS.index(sup_name), n, seed])
            data = rollout(mdp, sup, pi0, n, cfg.horizon, seed=rng)
            per_mech = _assess(mdp, sup, data, pi0, cfg.alpha, cfg.delta, exact.policy,
                               evx.rift_objective(cfg.alpha), cfg.spibb_threshold)
            for mech, figures in per_mech.items():
                row = dict(prior=prior_name, supervisor=sup_name, episodes=n, seed=seed, mechanism=mech, **figures)
                for k, v in row.items():
                    columns.setdefault(k, []).append(v)
    return {"columns": columns, "prior": prior_figures, "exact": exact_figures}


@dataclass(frozen=True)
class CoverageConfig:
    """Every knob of the coverage study.

    Attributes
    ----------
    datasets: how many datasets (each from a fresh MDP).
    delta: the certificate's level; the claims must hold with frequency >= 1 - delta.
    min_episodes, max_episodes: dataset sizes are drawn log-uniformly in this range.
    horizon: steps per episode before the time limit.
    constructed_fraction: the share of datasets from the cliff corridor (random prior and supervisor
        of the robustness family); the rest from random MDPs.
    max_states: the random MDPs' largest state count.
    """

    datasets: int = 4000
    delta: float = 0.05
    min_episodes: int = 5
    max_episodes: int = 3000
    horizon: int = 50
    constructed_fraction: float = 0.25
    max_states: int = 8

    def __post_init__(self):
        check_positive_fields(self, ("datasets", "min_episodes", "max_episodes", "horizon", "max_states"))
        if self.max_episodes < self.min_episodes:
            raise ValueError(f"max_episodes is {self.max_episodes}, expected >= min_episodes = {self.min_episodes}")
        _check_delta(self.delta)
        if not 0 <= self.constructed_fraction <= 1:
            raise ValueError(f"constructed_fraction is {self.constructed_fraction!r}, expected a value in [0, 1]")


def coverage_instance(cfg: CoverageConfig, index: int):
    """``(kind, mdp, supervisor, pi0, alpha, n_episodes, rng)`` of dataset ``index``: its own random stream."""
    rng = np.random.default_rng([COVERAGE_STREAM, index])
    n = int(np.exp(rng.uniform(np.log(cfg.min_episodes), np.log(cfg.max_episodes + 1))))
    n = min(max(n, cfg.min_episodes), cfg.max_episodes)
    if rng.random() < cfg.constructed_fraction:
        task, priors, sups = _corridor(CurvesConfig())
        sup_name = str(rng.choice([s for s in SUPERVISORS if s != "delayed"]))  # the certificate needs undelayed stops
        prior_name = str(rng.choice(PRIORS))
        alpha = float(10 ** rng.uniform(-3, 0))
        return f"corridor/{prior_name}/{sup_name}", task.mdp, sups[sup_name], priors[prior_name], alpha, n, rng
    inst = random_instance(rng, max_states=cfg.max_states)
    return f"random/{inst.kind}", inst.mdp, inst.supervisor, inst.pi0, inst.alpha, n, rng


def run_coverage(cfg: CoverageConfig, progress: bool = True, indices=None) -> dict:
    """Certify every mechanism's policy on each dataset and check every claim against the exact truth."""
    from ..progress import tqdm

    columns: dict[str, list] = {}
    indices = range(cfg.datasets) if indices is None else indices
    for index in tqdm(indices, desc="certificate coverage", disable=not progress):
        kind, mdp, sup, pi0, alpha, n, rng = coverage_instance(cfg, index)
        data = rollout(mdp, sup, pi0, n, cfg.horizon, seed=rng)
        ev0 = evaluate_policy(mdp, sup, pi0)
        tol = 1e-8 / (1 - mdp.gamma)  # the fixed points are computed to 1e-10
        row = dict(index=index, kind=kind, n_states=mdp.n_states, n_actions=mdp.n_actions, gamma=mdp.gamma,
                   semantics=sup.semantics, alpha=alpha, episodes=n, prior_stop_value=ev0.stop_value)
        holds = True
        for mech in PESSIMISM:
            pi = fitted_soft_q_iteration(data, pi0, alpha, mdp.gamma, pessimism=mech, delta=cfg.delta).policy
            cert = certify(data, pi, pi0, alpha, mdp.gamma, delta=cfg.delta, collected_by_prior=True)
            ev = evaluate_policy(mdp, sup, pi, pi0)
            gain = ev.rift_objective(alpha) - ev0.stop_value
            claims = (cert.objective_lower <= ev.rift_objective(alpha) + tol,
                      cert.stop_value_lower <= ev.stop_value + tol,
                      cert.prior_stop_value_lower - tol <= ev0.stop_value <= cert.prior_stop_value_upper + tol)
            holds &= all(claims)
            row.update({f"{mech}_gain": gain, f"{mech}_certified_gain": cert.improvement_lower,
                        f"{mech}_stop_value": ev.stop_value, f"{mech}_stop_value_lower": cert.stop_value_lower})
            if mech == "lcb":  # the corollary: never worse than the prior by more than epsilon
                row.update(epsilon=cert.epsilon, prior_lower=cert.prior_stop_value_lower,
                           prior_upper=cert.prior_stop_value_upper, lcb_within_epsilon=bool(gain >= -cert.epsilon - tol))
        row["holds"] = bool(holds)
        for k, v in row.items():
            columns.setdefault(k, []).append(v)
    return {"columns": columns}


def _config_dict(cfg) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m rift_core.experiments.safe_learning",
                                     description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    curves = sub.add_parser("curves", help="learning curves on the cliff corridor")
    curves.add_argument("--seeds", type=int, default=CurvesConfig.seeds, help="datasets per cell and budget")
    curves.add_argument("--out", default="notebooks/results/safe_learning/curves.json", help="results file (JSON)")
    cov = sub.add_parser("coverage", help="the certificate's coverage on random and constructed MDPs")
    cov.add_argument("--datasets", type=int, default=CoverageConfig.datasets, help="number of datasets")
    cov.add_argument("--out", default="notebooks/results/safe_learning/coverage.json", help="results file (JSON)")
    args = parser.parse_args(argv)
    if args.what == "curves":
        cfg = CurvesConfig(seeds=args.seeds)
        payload = run_curves(cfg)
    else:
        cfg = CoverageConfig(datasets=args.datasets)
        payload = run_coverage(cfg)
    payload["provenance"] = provenance(_config_dict(cfg), ["python", "-m", "rift_core.experiments.safe_learning", *argv])
    print(f"wrote {write_results(args.out, payload)}")


if __name__ == "__main__":
    main()
