r"""The robustness table: every method, under every supervisor, from every prior, learned from e-stop data.

Run ``python -m rift_core.experiments.robustness --seeds 20`` to regenerate
``notebooks/results/robustness.json`` (about a minute on 2 cores). The book's
robustness chapter renders that file and re-runs a slice of it live.

Per cell (prior quality x supervisor) and seed: collect ``episodes`` episodes of
at most ``horizon`` steps with the prior under the supervisor; fit every
learner on that one dataset; evaluate each learned policy on the true model.

- ``rift``: :func:`~rift_core.data.learning.fitted_soft_q_iteration` with the prior as reference and its
  safe default (pessimistic where data are thin);
- ``rift, optimistic``: the same with ``pessimism="none"`` (the empirical mean, 0 on unvisited pairs);
- ``avoid``: the safe learner with the uniform reference and an entropy bonus (no prior);
- ``finetune``: exact softmax policy gradient on ``J_I`` of the empirical model, from the prior;
- ``filter``: ``pi ∝ pi0 (1 - beta_hat)`` with the observed stop rates;
- ``prior`` and ``oracle`` (exact, the true model and task reward: an upper bound, not a learner).

Evaluation is exact (linear solves) under the supervisor's stop table; for the
delayed supervisor, whose stops are not a function of the current step, it is
Monte Carlo under the delayed supervisor itself (``eval_episodes`` episodes).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, dataclass

import numpy as np

from .. import StopSupervisor, evaluate_policy
from ..exact import baselines, supervisors, tabular_envs
from ..data.learning import empirical_model, fitted_soft_q_iteration
from ..exact.planning import optimal_task_advantage
from ..provenance import provenance, write_results
from ..data.sampling import DelayedSupervisor, delayed, rollout

__all__ = ["PRIORS", "SUPERVISORS", "CorridorStudy", "RobustnessConfig", "check_positive_fields", "check_cells", "corridor_priors",
           "corridor_supervisors", "learn_all", "run", "config_dict", "main"]

PRIORS = ("near-optimal", "mediocre", "poor", "biased")
SUPERVISORS = ("precise", "safety", "noisy (low)", "noisy (high)", "boltzmann", "delayed", "random")


@dataclass(frozen=True)
class CorridorStudy:
    """The knobs every study on the cliff corridor shares.

    Attributes
    ----------
    seeds: number of independent datasets per cell.
    horizon: steps per episode before the time limit.
    corridor_length, p_fall, gamma: the cliff corridor.
    priors, supervisor_names: which cells to run (a live slice uses fewer).
    """

    seeds: int = 20
    horizon: int = 60
    corridor_length: int = 8
    p_fall: float = 0.3
    gamma: float = 0.95
    priors: tuple[str, ...] = PRIORS
    supervisor_names: tuple[str, ...] = SUPERVISORS

    def __post_init__(self):
        check_positive_fields(self, ("seeds", "horizon", "corridor_length"))
        check_cells(self)


@dataclass(frozen=True)
class RobustnessConfig(CorridorStudy):
    """Every knob of the robustness table: those of :class:`CorridorStudy` (``seeds`` >= 10 for the stored
    table), and

    Attributes
    ----------
    episodes: episode budget of each dataset, collected by the prior.
    alphas: RIFT's regularisation strengths (one row each).
    avoid_temperature: entropy temperature of ``avoid``.
    finetune_steps, finetune_learning_rate: policy-gradient steps of ``finetune``.
    eval_episodes: Monte Carlo episodes for the delayed supervisor's column.
    """

    episodes: int = 200
    alphas: tuple[float, ...] = (0.03, 0.1, 0.3)
    avoid_temperature: float = 0.01
    finetune_steps: int = 100
    finetune_learning_rate: float = 1.0
    eval_episodes: int = 4000

    def __post_init__(self):
        super().__post_init__()
        check_positive_fields(self, ("episodes", "finetune_steps", "eval_episodes"))
        if not self.alphas or any(a <= 0 for a in self.alphas):
            raise ValueError(f"alphas is {self.alphas!r}, expected positive values")

    @property
    def methods(self) -> tuple[str, ...]:
        return ("prior", "avoid", "finetune", "filter", *(f"rift (alpha={a:g})" for a in self.alphas),
                *(f"rift, optimistic (alpha={a:g})" for a in self.alphas), "oracle")


def check_positive_fields(cfg, names) -> None:
    """Raise ``ValueError`` naming the first field of ``cfg`` among ``names`` that is not a positive integer."""
    for name in names:
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} is {value!r}, expected a positive integer")


def check_cells(cfg) -> None:
    """Raise ``ValueError`` if ``cfg.priors`` or ``cfg.supervisor_names`` names an unknown prior or supervisor."""
    for field, allowed in (("priors", PRIORS), ("supervisor_names", SUPERVISORS)):
        for name in getattr(cfg, field):
            if name not in allowed:
                raise ValueError(f"{field} holds {name!r}, expected names from {allowed}")


def corridor_priors(n_states: int, length: int) -> dict[str, np.ndarray]:
    """The four prior qualities on the corridor (rows: forward, stay, edge)."""
    tile = lambda f, s, e: np.tile([f, s, e], (n_states, 1))  # noqa: E731
    biased = tile(0.90, 0.05, 0.05)
    biased[length // 2: length] = [0.20, 0.10, 0.70]  # systematically wrong in the second half
    return {"near-optimal": tile(0.90, 0.05, 0.05), "mediocre": tile(0.60, 0.15, 0.25),
            "poor": tile(0.20, 0.40, 0.40), "biased": biased}


def corridor_supervisors(task) -> dict:
    """The seven supervisor strategies on the corridor; none stops a robot standing still except
    ``precise`` and ``boltzmann``, which judge every action by its task advantage."""
    mdp = task.mdp
    A_star = optimal_task_advantage(mdp)
    safety = supervisors.safety(mdp, task.danger).exempting(task.noop)
    low = supervisors.noisy(safety, fp=0.03, fn=0.10).exempting(task.noop)
    return {
        "precise": supervisors.precise(mdp, 0.02, advantage=A_star),
        "safety": safety,
        "noisy (low)": low,
        "noisy (high)": supervisors.noisy(safety, fp=0.10, fn=0.40).exempting(task.noop),
        "boltzmann": supervisors.boltzmann(mdp, 0.005, 0.02, advantage=A_star),
        "delayed": delayed(low, 2),
        "random": supervisors.random_stops(mdp, 0.05).exempting(task.noop),
    }


def _evaluate(mdp, sup, pi, cfg: RobustnessConfig, rng) -> tuple[float, float]:
    """(task return, stop probability) of ``pi``: exact, or Monte Carlo for a delayed supervisor."""
    if isinstance(sup, DelayedSupervisor):
        data = rollout(mdp, sup, pi, cfg.eval_episodes, cfg.horizon, seed=rng)
        ret, stops = data.discounted_returns(mdp.gamma)
        return float(ret.mean()), float(stops.mean())
    ev = evaluate_policy(mdp, sup, pi)
    return ev.task_return, ev.p_stop


def learn_all(mdp, sup, pi0, cfg: RobustnessConfig, seed: int) -> dict[str, np.ndarray]:
    """Every method's policy from one dataset of ``cfg.episodes`` episodes collected by ``pi0``."""
    data = rollout(mdp, sup, pi0, cfg.episodes, cfg.horizon, seed=seed)
    A = mdp.n_actions
    uniform = np.full_like(pi0, 1.0 / A)
    model = empirical_model(data, mdp.gamma)
    base = sup.base if isinstance(sup, DelayedSupervisor) else sup
    policies = {
        "prior": pi0,
        "avoid": fitted_soft_q_iteration(data, uniform, cfg.avoid_temperature, mdp.gamma,
                                         step_bonus=cfg.avoid_temperature * np.log(A)).policy,
        "finetune": model.restrict(baselines.finetune(model.mdp, model.supervisor, model.extend(pi0),
                                                      steps=cfg.finetune_steps, learning_rate=cfg.finetune_learning_rate)),
        "filter": baselines.filter_policy(mdp, StopSupervisor(model.beta_hat, base.semantics), pi0),
        "oracle": baselines.oracle(mdp, base),
    }
    for a in cfg.alphas:
        policies[f"rift (alpha={a:g})"] = fitted_soft_q_iteration(data, pi0, a, mdp.gamma).policy
    for a in cfg.alphas:
        policies[f"rift, optimistic (alpha={a:g})"] = fitted_soft_q_iteration(data, pi0, a, mdp.gamma,
                                                                             pessimism="none").policy
    return policies


def run(cfg: RobustnessConfig, progress: bool = True) -> dict:
    """Run the grid; returns ``{"results": {prior: {supervisor: {method: {"task_return": [...], "p_stop": [...]}}}}}``."""
    from ..progress import tqdm

    task = tabular_envs.cliff_corridor(cfg.corridor_length, cfg.p_fall, cfg.gamma)
    mdp = task.mdp
    priors = corridor_priors(mdp.n_states, cfg.corridor_length)
    sups = corridor_supervisors(task)
    results: dict = {}
    cells = [(p, s) for p in cfg.priors for s in cfg.supervisor_names]
    for prior_name, sup_name in tqdm(cells, desc="robustness cells", disable=not progress):
        cell = {m: {"task_return": [], "p_stop": []} for m in cfg.methods}
        for seed in range(cfg.seeds):
            # one seed stream per (cell, seed): a slice re-run reproduces the full run's numbers
            cell_seed = [PRIORS.index(prior_name),
                         SUPERVISORS.index(sup_name), seed]
            rng = np.random.default_rng(cell_seed)
            policies = learn_all(mdp, sups[sup_name], priors[prior_name], cfg, seed=rng)
            for method, pi in policies.items():
                J, p = _evaluate(mdp, sups[sup_name], pi, cfg, rng)
                cell[method]["task_return"].append(J)
                cell[method]["p_stop"].append(p)
        results.setdefault(prior_name, {})[sup_name] = cell
    return {"results": results}


def config_dict(cfg: RobustnessConfig) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=RobustnessConfig.seeds, help="datasets per cell")
    parser.add_argument("--episodes", type=int, default=RobustnessConfig.episodes, help="episode budget per dataset")
    parser.add_argument("--out", default="notebooks/results/robustness.json", help="results file (JSON)")
    args = parser.parse_args(argv)
    cfg = RobustnessConfig(seeds=args.seeds, episodes=args.episodes)
    payload = run(cfg)
    payload["provenance"] = provenance(config_dict(cfg), ["python", "-m", "rift_core.experiments.robustness", *(argv or sys.argv[1:])])
    path = write_results(args.out, payload)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
