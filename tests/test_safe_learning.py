"""Safe sample-based RIFT: confidence sets, pessimistic values, SPIBB, and the data certificate."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import linprog

from rift_core import evaluate_policy, tabular_envs
from rift_core.data.confidence import (certify, l1_radius, monte_carlo_upper, outcome_confidence, robust_policy_value,
                                       robust_soft_value_iteration, worst_case_distribution, worst_case_expectation)
from rift_core.experiments.robustness import corridor_priors, corridor_supervisors
from rift_core.data.learning import fitted_soft_q_iteration, iterated_rift, spibb_backup
from rift_core.exact.linear import one_hot_features
from rift_core.data.sampling import rollout
from strategies import instances


# --- the inner problem: min p . f over the confidence set ---------------------------------------

def test_worst_case_expectation_hand_computed():
    f, p = np.array([1.0, 2.0, 3.0]), np.array([0.2, 0.3, 0.5])
    # L1 ball of radius 0.4: 0.2 moves from the best outcome to the worst: [0.4, 0.3, 0.3]
    assert worst_case_expectation(f, p, np.float64(0.4)) == pytest.approx(0.4 + 0.6 + 0.9)
    # the box caps the worst outcome at 0.3: 0.1 goes there, the next 0.1 to the middle one: [0.3, 0.4, 0.3]
    upper = np.array([0.3, 1.0, 1.0])
    assert worst_case_expectation(f, p, np.float64(0.4), np.zeros(3), upper) == pytest.approx(0.3 + 0.8 + 0.9)
    # best case mirrors it: 0.2 moves onto the best outcome, taken from the worst: [0.0, 0.3, 0.7]
    assert worst_case_expectation(f, p, np.float64(0.4), best=True) == pytest.approx(0.6 + 2.1)
    # a radius of 2 is the whole simplex: the min is the worst outcome
    assert worst_case_expectation(f, p, np.float64(2.0)) == pytest.approx(1.0)


@given(st.integers(0, 2**32 - 1))
def test_worst_case_expectation_solves_the_linear_programme(seed):
    """The greedy transport against scipy's LP solver, min and max, with random boxes and ties."""
    rng = np.random.default_rng(seed)
    K = int(rng.integers(2, 7))
    p = rng.dirichlet(np.full(K, 0.5))
    f = rng.normal(size=K)
    f[rng.integers(K)] = f[rng.integers(K)]  # ties
    radius = rng.uniform(0, 2)
    lower, upper = np.clip(p - rng.uniform(0, 0.5, K), 0, 1), np.clip(p + rng.uniform(0, 0.5, K), 0, 1)
    # variables (p, d): |p - p_hat| <= d, sum d <= radius, sum p = 1, lower <= p <= upper
    A_ub = np.block([[np.eye(K), -np.eye(K)], [-np.eye(K), -np.eye(K)], [np.zeros((1, K)), np.ones((1, K))]])
    b_ub = np.r_[p, -p, radius]
    A_eq, bounds = np.r_[np.ones(K), np.zeros(K)][None], list(zip(lower, upper)) + [(0, None)] * K
    lo = linprog(np.r_[f, np.zeros(K)], A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=[1], bounds=bounds).fun
    hi = -linprog(np.r_[-f, np.zeros(K)], A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=[1], bounds=bounds).fun
    assert worst_case_expectation(f, p, np.float64(radius), lower, upper) == pytest.approx(lo, abs=1e-9)
    assert worst_case_expectation(f, p, np.float64(radius), lower, upper, best=True) == pytest.approx(hi, abs=1e-9)


def test_l1_radius_hand_computed():
    # n = 10, K = 3, 6 pairs, delta = 0.1: sqrt(0.2 (3 log 2 + log(6 * 10 * 11 / 0.1)))
    expected = np.sqrt(0.2 * (3 * np.log(2) + np.log(6600)))
    np.testing.assert_allclose(l1_radius(np.array([10.0, 0.0]), 3, 6, 0.1), [expected, 2.0])


# --- the confidence sets hold, and bracket every policy's value ---------------------------------

def _dataset(inst, seed, episodes=None):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300)) if episodes is None else episodes
    return rollout(inst.mdp, inst.supervisor, inst.pi0, n, 30, seed=rng)


def _true_outcomes(mdp, sup):
    S, A = mdp.n_states, mdp.n_actions
    p = np.zeros((S, A, S + 1))
    p[..., 0] = sup.beta
    p[..., 1:] = (1 - sup.beta)[..., None] * mdp.P
    return p


@given(instances(max_states=5, max_actions=3, gamma_max=0.95), st.integers(0, 2**32 - 1))
def test_true_model_lies_in_its_confidence_sets(inst, seed):
    """At delta = 1e-6 a failure of the union bound would be a finding, not bad luck."""
    data = _dataset(inst, seed)
    conf = outcome_confidence(data, 1e-6)
    p = _true_outcomes(inst.mdp, inst.supervisor)
    assert (np.abs(p - conf.p_hat).sum(axis=2) <= conf.radius + 1e-12).all()
    assert (conf.lower - 1e-12 <= p).all() and (p <= conf.upper + 1e-12).all()


@given(instances(max_states=5, max_actions=3, gamma_max=0.95), st.integers(0, 2**32 - 1))
def test_robust_values_bracket_the_true_value(inst, seed):
    """V_low^pi <= V^pi_alpha <= V_up^pi in every state, for the prior and the learned policy."""
    mdp, sup = inst.mdp, inst.supervisor
    data = _dataset(inst, seed)
    conf = outcome_confidence(data, 1e-6)
    learned = fitted_soft_q_iteration(data, inst.pi0, inst.alpha, mdp.gamma).policy
    for pi in (inst.pi0, learned):
        ev_rows = []
        for s in range(mdp.n_states):  # the value from each state: start there
            rho = np.eye(mdp.n_states)[s]
            start = type(mdp)(mdp.P, mdp.r, rho, mdp.gamma)
            ev_rows.append(evaluate_policy(start, sup, pi, inst.pi0).rift_objective(inst.alpha))
        truth = np.array(ev_rows)
        low = robust_policy_value(conf, pi, inst.pi0, inst.alpha, mdp.gamma)
        up = robust_policy_value(conf, pi, inst.pi0, inst.alpha, mdp.gamma, best=True)
        assert (low <= truth + 1e-9).all() and (truth <= up + 1e-9).all()


@given(instances(max_states=5, max_actions=3, gamma_max=0.95), st.integers(0, 2**32 - 1))
def test_pessimistic_policy_maximises_the_pessimistic_value(inst, seed):
    """The corollary's key step, deterministic: V_low^{pi_hat} >= V_low^pi for every pi (here: the prior and
    random policies on its support), state by state."""
    data = _dataset(inst, seed)
    conf = outcome_confidence(data, 0.05)
    pi_hat, _, V, _, converged = robust_soft_value_iteration(conf, inst.pi0, inst.alpha, inst.mdp.gamma)
    assert converged
    V_hat = robust_policy_value(conf, pi_hat, inst.pi0, inst.alpha, inst.mdp.gamma)
    np.testing.assert_allclose(V_hat, V, atol=1e-7 / (1 - inst.mdp.gamma))
    rng = np.random.default_rng(seed)
    for pi in [inst.pi0] + [inst.pi0 * rng.uniform(0.1, 1.0, inst.pi0.shape) for _ in range(3)]:
        pi = pi / pi.sum(axis=1, keepdims=True)
        assert (robust_policy_value(conf, pi, inst.pi0, inst.alpha, inst.mdp.gamma) <= V + 1e-7 / (1 - inst.mdp.gamma)).all()


@given(instances(max_states=5, max_actions=3, gamma_max=0.95), st.integers(0, 2**32 - 1))
def test_safe_default_is_never_worse_than_the_prior_beyond_epsilon(inst, seed):
    """Corollary cor-safe-improvement and theorem thm-data-certificate, on random MDPs and datasets (delta = 1e-6)."""
    mdp, sup = inst.mdp, inst.supervisor
    data = _dataset(inst, seed)
    fit = fitted_soft_q_iteration(data, inst.pi0, inst.alpha, mdp.gamma, delta=1e-6)
    cert = certify(data, fit.policy, inst.pi0, inst.alpha, mdp.gamma, delta=1e-6, collected_by_prior=True)
    ev, ev0 = evaluate_policy(mdp, sup, fit.policy, inst.pi0), evaluate_policy(mdp, sup, inst.pi0)
    gain = ev.rift_objective(inst.alpha) - ev0.stop_value
    tol = 1e-8 / (1 - mdp.gamma)
    assert gain >= -cert.epsilon - tol
    assert cert.improvement_lower <= gain + tol
    assert cert.stop_improvement_lower <= ev.stop_value - ev0.stop_value + tol
    assert cert.prior_stop_value_lower - tol <= ev0.stop_value <= cert.prior_stop_value_upper + tol


# --- the failure of optimism, and the default that does not fail --------------------------------

@pytest.fixture(scope="module")
def corridor():
    task = tabular_envs.cliff_corridor(8, 0.3, 0.95)
    prior = corridor_priors(task.mdp.n_states, 8)["near-optimal"]  # takes the edge move 5% of the time
    return task.mdp, corridor_supervisors(task)["noisy (low)"], prior


@pytest.mark.parametrize("episodes", [5, 20, 100])
def test_optimism_fails_where_data_are_thin_and_the_default_does_not(corridor, episodes):
    mdp, sup, pi0 = corridor
    p0 = evaluate_policy(mdp, sup, pi0).p_stop
    optimistic_p_stop, untried_mass = [], []
    for seed in range(6):
        data = rollout(mdp, sup, pi0, episodes, 60, seed=seed)
        optimistic = fitted_soft_q_iteration(data, pi0, 0.01, mdp.gamma, pessimism="none")
        safe = fitted_soft_q_iteration(data, pi0, 0.01, mdp.gamma)
        never_tried = safe.counts == 0
        optimistic_p_stop.append(evaluate_policy(mdp, sup, optimistic.policy).p_stop)
        untried_mass.append(optimistic.policy[never_tried].max(initial=0.0))
        # the default: never stopped more than the prior, and no mass moved onto an untried pair
        assert evaluate_policy(mdp, sup, safe.policy).p_stop <= p0 + 1e-9
        assert (safe.policy[never_tried] <= pi0[never_tried] + 1e-12).all()
    if episodes <= 20:  # optimism moves mass onto edge moves it never tried, and is stopped far more
        assert np.mean(optimistic_p_stop) > 1.5 * p0
        assert max(untried_mass) > 0.5


# --- SPIBB ---------------------------------------------------------------------------------------

@given(instances(max_states=5, max_actions=4), st.integers(0, 2**32 - 1))
def test_spibb_backup_keeps_the_prior_on_bootstrapped_pairs_and_is_optimal_among_such_policies(inst, seed):
    rng = np.random.default_rng(seed)
    S, A = inst.pi0.shape
    Q = rng.normal(size=(S, A))
    boot = rng.random((S, A)) < 0.5
    V, pi = spibb_backup(Q, inst.pi0, inst.alpha, boot)
    np.testing.assert_allclose(pi[boot], inst.pi0[boot], atol=1e-12)
    np.testing.assert_allclose(pi.sum(axis=1), 1.0, atol=1e-12)

    def objective(p):
        with np.errstate(divide="ignore", invalid="ignore"):
            kl = np.where(p > 0, p * np.log(p / inst.pi0), 0.0).sum(axis=1)
        return (p * np.where(inst.pi0 > 0, Q, 0.0)).sum(axis=1) - inst.alpha * kl

    assert np.all(np.abs(objective(pi) - V) <= 1e-9 * (1 + np.abs(V)))
    free = ~boot & (inst.pi0 > 0)
    for _ in range(3):  # any other policy equal to the prior on B does no better
        other = inst.pi0.copy()
        w = np.where(free, rng.uniform(0.1, 1.0, (S, A)) * inst.pi0, 0.0)
        mass = (inst.pi0 * free).sum(axis=1, keepdims=True)
        other = np.where(free, w / np.maximum(w.sum(axis=1, keepdims=True), 1e-300) * mass, other)
        assert (objective(other) <= V + 1e-9 * (1 + np.abs(V))).all()


def test_spibb_equals_the_empirical_learner_when_every_pair_is_well_estimated(corridor):
    mdp, sup, _ = corridor
    pi0 = corridor_priors(mdp.n_states, 8)["mediocre"]
    data = rollout(mdp, sup, pi0, 2000, 60, seed=0)
    spibb = fitted_soft_q_iteration(data, pi0, 0.1, mdp.gamma, pessimism="spibb", spibb_threshold=1)
    plain = fitted_soft_q_iteration(data, pi0, 0.1, mdp.gamma, pessimism="none")
    visited = plain.counts.sum(axis=1) > 0
    np.testing.assert_allclose(spibb.policy[visited], plain.policy[visited], atol=1e-9)


# --- linear and iterated RIFT take the same treatment --------------------------------------------

def test_linear_pessimism_lowers_q_and_one_hot_recovers_the_plain_learner_without_it(corridor):
    mdp, sup, pi0 = corridor
    data = rollout(mdp, sup, pi0, 50, 60, seed=1)
    phi = one_hot_features(mdp.n_states, mdp.n_actions)
    plain = fitted_soft_q_iteration(data, pi0, 0.1, mdp.gamma, features=phi, pessimism="none", ridge=1e-6)
    safe = fitted_soft_q_iteration(data, pi0, 0.1, mdp.gamma, features=phi, ridge=1e-6)
    assert (safe.Q <= plain.Q + 1e-9).all() and (safe.Q < plain.Q - 1e-3).any()
    never = safe.counts == 0
    assert never.any() and (safe.policy[never] <= pi0[never] + 1e-12).all()


def test_iterated_rift_passes_its_pessimism_on(corridor):
    mdp, sup, pi0 = corridor
    runs = {m: iterated_rift(mdp, sup, pi0, 0.01, rounds=2, episodes_per_round=10, horizon=60, seed=0, pessimism=m)
            for m in ("lcb", "none")}
    assert not np.allclose(runs["lcb"].policies[0], runs["none"].policies[0])
    assert np.array_equal(runs["lcb"].data.state[:50], runs["none"].data.state[:50])  # round 0: same prior data


def test_monte_carlo_upper_bound_is_above_the_mean_and_capped_at_zero(corridor):
    mdp, sup, pi0 = corridor
    data = rollout(mdp, sup, pi0, 400, 60, seed=2)
    _, stops = data.discounted_returns(mdp.gamma)
    bound = monte_carlo_upper(data, mdp.gamma, 0.05)
    assert -stops.mean() < bound <= 0.0
    assert evaluate_policy(mdp, sup, pi0).stop_value <= bound


# --- bad input ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, field", [
    (dict(delta=0.0), "delta"), (dict(delta=1.0), "delta"), (dict(delta=1.5), "delta"),
    (dict(delta=float("nan")), "delta"), (dict(spibb_threshold=0), "spibb_threshold"),
    (dict(spibb_threshold=-3), "spibb_threshold"), (dict(pessimism="optimistic"), "pessimism"),
    (dict(bonus_scale=-1.0), "bonus_scale"),
])
def test_fitted_soft_q_names_the_bad_field(corridor, kwargs, field):
    mdp, sup, pi0 = corridor
    data = rollout(mdp, sup, pi0, 5, 20, seed=0)
    with pytest.raises((ValueError, TypeError), match=field):
        fitted_soft_q_iteration(data, pi0, 0.1, mdp.gamma, **kwargs)


def test_spibb_refuses_features(corridor):
    mdp, sup, pi0 = corridor
    data = rollout(mdp, sup, pi0, 5, 20, seed=0)
    with pytest.raises(ValueError, match="spibb.*tabular"):
        fitted_soft_q_iteration(data, pi0, 0.1, mdp.gamma, pessimism="spibb",
                                features=one_hot_features(mdp.n_states, mdp.n_actions))


def test_certify_names_bad_input(corridor):
    mdp, sup, pi0 = corridor
    data = rollout(mdp, sup, pi0, 5, 20, seed=0)
    for delta in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match="delta"):
            certify(data, pi0, pi0, 0.1, mdp.gamma, delta=delta)
    unseen = int(np.flatnonzero(np.bincount(data.state, minlength=mdp.n_states) == 0)[0])
    rho = np.eye(mdp.n_states)[unseen]
    with pytest.raises(ValueError, match=rf"rho\[{unseen}\] = 1 but the data never visit state {unseen}"):
        certify(data, pi0, pi0, 0.1, mdp.gamma, rho=rho)
    with pytest.raises(ValueError, match=r"policy has shape"):
        certify(data, pi0[:3], pi0, 0.1, mdp.gamma)
    with pytest.raises(TypeError, match="data must be an EStopData"):
        certify([], pi0, pi0, 0.1, mdp.gamma)
    with pytest.raises(TypeError, match="collected_by_prior"):
        certify(data, pi0, pi0, 0.1, mdp.gamma, collected_by_prior="yes")


def test_empty_data_is_refused_before_learning():
    from rift_core.data.sampling import EStopData
    empty = np.array([], dtype=np.int64)
    with pytest.raises(ValueError, match="the dataset is empty"):
        EStopData(empty, empty, empty, empty.astype(bool), empty.astype(float), empty, empty.astype(bool),
                  empty.astype(bool), 3, 2, "terminate")


@given(instances(max_states=5, max_actions=3, gamma_max=0.9), st.integers(0, 2**32 - 1), st.booleans())
def test_robust_policy_value_is_the_fixed_point_of_the_robust_backup(inst, seed, best):
    """Policy iteration for the adversary against plain iteration of V <- sum_a pi Q_low(V) - alpha KL."""
    from rift_core.data.confidence import outcome_values
    from rift_core.exact.evaluation import kl_per_state
    data = _dataset(inst, seed)
    conf = outcome_confidence(data, 0.05)
    V_pi = robust_policy_value(conf, inst.pi0, inst.pi0, 0.0, inst.mdp.gamma, best=best)
    V = np.zeros(inst.mdp.n_states)
    cost = 0.0 * kl_per_state(inst.pi0, inst.pi0)
    for _ in range(600):  # 0.9^600 < 1e-27
        f = np.broadcast_to(outcome_values(V, inst.mdp.gamma, conf.semantics)[:, None, :], conf.p_hat.shape)
        V = np.sum(inst.pi0 * conf.expectation(f, best=best), axis=1) - cost
    np.testing.assert_allclose(V_pi, V, atol=1e-8 / (1 - inst.mdp.gamma))


@given(instances(max_states=5, max_actions=3, gamma_max=0.95), st.integers(0, 2**32 - 1), st.booleans())
def test_epsilon_is_below_its_closed_form(inst, seed, by_prior):
    """Proposition prop-epsilon-rate: the computed epsilon never exceeds the bound in the counts."""
    from rift_core.data.confidence import epsilon_bound
    data = _dataset(inst, seed)
    cert = certify(data, inst.pi0, inst.pi0, inst.alpha, inst.mdp.gamma, collected_by_prior=by_prior)
    assert cert.epsilon <= epsilon_bound(data, inst.pi0, inst.mdp.gamma, collected_by_prior=by_prior) + 1e-9


def test_coverage_dataset_894_spibb_policy_is_a_valid_policy():
    """Regression: SPIBB's two-part policy once summed to 1 + 2e-16 and certify refused it."""
    from rift_core.experiments.safe_learning import CoverageConfig, run_coverage
    assert run_coverage(CoverageConfig(), progress=False, indices=[894])["columns"]["holds"] == [True]


def test_safe_learning_experiment_writes_results_with_provenance(tmp_path):
    """The stored-results commands, at a tiny size: every record, every mechanism, provenance, and slices that
    reproduce the full run."""
    import json

    from rift_core.experiments import safe_learning
    out = tmp_path / "coverage.json"
    safe_learning.main(["coverage", "--datasets", "3", "--out", str(out)])
    stored = json.loads(out.read_text())
    assert stored["provenance"]["command"] == "python -m rift_core.experiments.safe_learning coverage --datasets 3 --out " + str(out)
    assert len(stored["columns"]["holds"]) == 3
    again = safe_learning.run_coverage(safe_learning.CoverageConfig(datasets=3), progress=False, indices=[2])
    assert again["columns"]["lcb_certified_gain"] == stored["columns"]["lcb_certified_gain"][2:]
    cfg = safe_learning.CurvesConfig(seeds=1, episodes=(5,), priors=("poor",), supervisor_names=("random",))
    curves = safe_learning.run_curves(cfg, progress=False)
    assert sorted(curves["columns"]["mechanism"]) == ["certified", "lcb", "none", "spibb"]
    assert set(curves["exact"]) == {"poor|random"}


@pytest.mark.parametrize("kwargs, message", [
    (dict(seeds=0), "seeds is 0"), (dict(episodes=(5, 0)), "episodes"), (dict(delta=1.0), "delta"),
    (dict(priors=("excellent",)), "priors holds 'excellent'"), (dict(supervisor_names=("psychic",)), "psychic"),
])
def test_curves_config_names_bad_fields(kwargs, message):
    from rift_core.experiments.safe_learning import CurvesConfig
    with pytest.raises(ValueError, match=message):
        CurvesConfig(**kwargs)


@given(instances(max_states=5, max_actions=3, gamma_max=0.95), st.integers(0, 2**32 - 1))
def test_certified_learner_is_never_worse_than_the_prior(inst, seed):
    """Theorem thm-certified-improvement at delta = 1e-6: L_alpha(pi_hat) >= L_alpha(pi0), with no margin; and it
    leaves the prior only in states it switched (rows equal to pi0 elsewhere)."""
    mdp, sup = inst.mdp, inst.supervisor
    data = _dataset(inst, seed, episodes=int(np.random.default_rng(seed).integers(50, 3000)))
    fit = fitted_soft_q_iteration(data, inst.pi0, inst.alpha, mdp.gamma, pessimism="certified", delta=1e-6)
    assert fit.converged
    gain = evaluate_policy(mdp, sup, fit.policy, inst.pi0).rift_objective(inst.alpha) - evaluate_policy(mdp, sup, inst.pi0).stop_value
    assert gain >= -1e-8 / (1 - mdp.gamma)


def test_certified_learner_moves_once_data_are_plentiful():
    """On a two-action bandit-like MDP with a clearly stopped action, the certified learner leaves the prior."""
    from rift_core import StopSupervisor
    from rift_core.exact.mdp import FiniteMDP
    P = np.zeros((1, 2, 1)); P[0, :, 0] = 1.0
    mdp = FiniteMDP(P, np.zeros((1, 2)), np.array([1.0]), 0.5)
    sup = StopSupervisor(np.array([[0.0, 0.8]]), "truncate")
    pi0 = np.array([[0.5, 0.5]])
    data = rollout(mdp, sup, pi0, 200, 20, seed=0)
    fit = fitted_soft_q_iteration(data, pi0, 0.1, mdp.gamma, pessimism="certified")
    assert fit.policy[0, 1] < 0.1
    assert evaluate_policy(mdp, sup, fit.policy).p_stop < 0.2 * evaluate_policy(mdp, sup, pi0).p_stop


def test_public_confidence_functions_name_bad_input(corridor):
    from rift_core.data.confidence import certified_policy_iteration
    mdp, sup, pi0 = corridor
    data = rollout(mdp, sup, pi0, 5, 20, seed=0)
    conf = outcome_confidence(data, 0.05)
    f, p = np.array([1.0, 2.0]), np.array([0.5, 0.5])
    with pytest.raises(ValueError, match=r"f\[1\] is nan"):
        worst_case_distribution(np.array([1.0, np.nan]), p, np.float64(0.1))
    with pytest.raises(ValueError, match="p_hat must hold probability vectors"):
        worst_case_expectation(f, np.array([0.5, 0.7]), np.float64(0.1))
    with pytest.raises(ValueError, match="radius must be >= 0"):
        worst_case_expectation(f, p, np.float64(-0.1))
    with pytest.raises(ValueError, match=r"the box \[lower, upper\] must contain p_hat"):
        worst_case_expectation(f, p, np.float64(0.1), np.array([0.6, 0.0]), np.ones(2))
    for solver in (robust_soft_value_iteration, certified_policy_iteration):
        with pytest.raises(TypeError, match="conf must be an OutcomeConfidence"):
            solver({"p_hat": 1}, pi0, 0.1, mdp.gamma)
        with pytest.raises(ValueError, match="alpha is 0"):
            solver(conf, pi0, 0.0, mdp.gamma)
        with pytest.raises(ValueError, match=r"pi_ref has shape \(3, 3\)"):
            solver(conf, pi0[:3], 0.1, mdp.gamma)
    with pytest.raises(ValueError, match="gamma is 1"):
        robust_policy_value(conf, pi0, pi0, 0.1, 1.0)
    with pytest.raises(TypeError, match="data must be an EStopData"):
        monte_carlo_upper([], mdp.gamma, 0.05)
    with pytest.raises(ValueError, match="delta is 0"):
        monte_carlo_upper(data, mdp.gamma, 0.0)
