r"""Learning RIFT from e-stop data, without the model: sample-based and linear RIFT.

:func:`fitted_soft_q_iteration` is the sample-based RIFT learner. On a dataset
of transitions ``(s, a, stopped, s', terminal)`` it iterates

    Q(s, a) <- an estimate from the (s, a) rows of  [ -stopped + gamma (1 - terminal) V(s') ]
    V(s)    =  alpha log sum_a pi_ref(a | s) exp(Q(s, a) / alpha)

(the prior-weighted soft target; a stop under ``terminate`` is a terminal
transition with reward -1, a time limit bootstraps). The estimate is safe by
default: the lowest value consistent with the data at confidence ``1 - delta``
(``pessimism="lcb"``), so a pair the data never visit takes its worst outcome
and the policy does not move towards it; the book's chapter ``safe-learning``
proves the guarantee this buys. ``pessimism="spibb"`` keeps the prior's
probabilities on rarely seen pairs instead, and ``pessimism="none"`` is the
plain empirical mean, optimistic where there are no data. With ``features``
the estimate is a ridge least-squares fit of ``Q_w = w . phi(s, a)``, and the
policy ``pi ∝ pi_ref exp(w . phi / alpha)`` is log-linear: this is
sample-based *linear* RIFT, and with one-hot features and ``pessimism="none"``
it is the tabular learner.

With ``pessimism="none"`` on fixed data, tabular fitted iteration is exact soft
value iteration on the *empirical model* (:func:`empirical_model`): stop rates
and transition frequencies per visited pair, unvisited pairs sent to an
absorbing, never-stopped state. The baselines of the robustness table run on that model.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .._validation import as_float_array, check_policy, check_positive_int, check_scalar
from ..exact.mdp import FiniteMDP, StopSupervisor
from .confidence import RobustSoftBellman, certified_policy_iteration, outcome_confidence
from ..exact.rift import ConvergenceWarning, DenseSoftBellman, operator_iteration, soft_backup, spibb_backup
from .sampling import EStopData, check_estop_data, rollout

__all__ = ["PESSIMISM", "FittedSoftQ", "fitted_soft_q_iteration", "SpibbSoftBellman", "spibb_backup", "EmpiricalModel", "empirical_model", "IteratedRIFT", "iterated_rift"]


PESSIMISM = ("lcb", "certified", "spibb", "none")


@dataclass(frozen=True)
class FittedSoftQ:
    """Result of :func:`fitted_soft_q_iteration`.

    ``policy = pi_ref exp((Q - V) / alpha)`` (``spibb``: on the well-estimated
    pairs only, see :func:`fitted_soft_q_iteration`); ``weights`` is ``w`` for
    linear features (``None`` in the tabular case); ``counts[s, a]`` the data's
    visits; ``converged`` whether the iteration settled to ``tol`` (if not, a ``ConvergenceWarning`` was issued);
    ``pessimism`` the mechanism used.
    """

    policy: np.ndarray
    Q: np.ndarray
    V: np.ndarray
    weights: np.ndarray | None
    counts: np.ndarray
    iterations: int
    converged: bool
    pessimism: str = "none"


def _check_data(data: EStopData, pi_ref) -> np.ndarray:
    data = check_estop_data(data)
    return check_policy("pi_ref", pi_ref, data.n_states, data.n_actions)


def fitted_soft_q_iteration(data: EStopData, pi_ref, alpha: float, gamma: float, *, pessimism: str = "lcb",
                            delta: float = 0.05, spibb_threshold: int = 10, features=None,
                            bonus_scale: float = 1.0, step_bonus: float = 0.0, ridge: float = 1e-8,
                            tol: float = 1e-10, max_iterations: int = 100_000) -> FittedSoftQ:
    r"""Fit the soft Q-function of the stop-avoidance objective to e-stop data, safely where data are thin.

    Target per row ``i``: ``y_i = -stopped_i + step_bonus + gamma (1 - terminal_i) V(s'_i)``,
    with ``V(s) = alpha log sum_a pi_ref(a|s) exp(Q(s, a) / alpha)``. What is done
    where the data are thin is ``pessimism``:

    ``"lcb"`` (default): pessimistic soft value iteration. ``Q(s, a)`` is the
        lowest expectation of the target over the L1 confidence set of the pair's
        outcomes at level ``delta`` (:mod:`rift_core.data.confidence`); an unvisited pair
        gets its worst outcome. With probability ``>= 1 - delta`` the policy is
        never worse than ``pi_ref`` on ``L_alpha`` by more than the certified
        ``epsilon`` of :func:`rift_core.data.confidence.certify` (the book's
        ``cor-safe-improvement``).
    ``"certified"``: soft policy iteration from ``pi_ref`` that changes a state only
        where the data certify a gain (:func:`rift_core.data.confidence.certified_policy_iteration`):
        with probability ``>= 1 - delta`` never worse than ``pi_ref`` at all
        (the book's ``thm-certified-improvement``), and slow to move.
    ``"spibb"``: the empirical mean target, but on pairs seen fewer than
        ``spibb_threshold`` times the policy keeps ``pi_ref``'s probabilities and
        reweights only among the others (:func:`spibb_backup`; Laroche et al. 2019).
        Unvisited pairs keep ``Q = 0``.
    ``"none"``: the empirical mean target, ``Q = 0`` on unvisited pairs. Since the
        learner's reward is never positive, 0 is the largest value a pair can have:
        the policy moves mass onto actions the data never tried (optimism).

    Tabular (``features=None``): each is a ``gamma``-contraction, solved by the core's one solver loop
    (:func:`~rift_core.exact.rift.operator_iteration`: ``V`` within ``tol`` of the fixed point, a
    ``ConvergenceWarning`` and ``converged=False`` if it stops early): ``"none"`` is soft value iteration on
    :func:`empirical_model`, ``"lcb"`` on :class:`~rift_core.data.confidence.RobustSoftBellman`, ``"spibb"`` on
    :class:`SpibbSoftBellman`; ``"certified"`` is its own policy iteration. Linear (``features`` of shape ``(S, A, d)``):
    ``w = argmin sum_i (w . phi(s_i, a_i) - y_i)^2 + ridge |w|^2`` and, with ``"lcb"``,
    ``Q = max(phi . w - b ||phi||_{Lambda^-1}, Q_floor)``, ``Lambda = X^T X + ridge I``,
    ``b = bonus_scale H sqrt(d log(2 d N / delta))``: the elliptical penalty of
    pessimistic value iteration for linear MDPs (Jin et al. 2021) with its
    absolute constant set by ``bonus_scale``. It assumes stop rates and dynamics
    linear in ``phi``, and no certificate is claimed for it. Linear iteration has
    no contraction guarantee (``converged`` says whether it settled).

    ``pi_ref`` is the prior (RIFT) or the uniform policy with
    ``step_bonus = alpha log A`` (entropy-regularised avoidance, see
    :func:`rift_core.exact.baselines.avoid`).
    """
    pi_ref = _check_data(data, pi_ref)
    alpha = check_scalar("alpha", alpha, low=0.0, low_open=True)
    gamma = check_scalar("gamma", gamma, low=0.0, high=1.0, high_open=True)
    if pessimism not in PESSIMISM:
        raise ValueError(f"pessimism is {pessimism!r}, expected one of {PESSIMISM}")
    delta = check_scalar("delta", delta, low=0.0, high=1.0, low_open=True, high_open=True)
    spibb_threshold = check_positive_int("spibb_threshold", spibb_threshold)
    bonus_scale = check_scalar("bonus_scale", bonus_scale, low=0.0)
    step_bonus = check_scalar("step_bonus", step_bonus)
    tol = check_scalar("tol", tol, low=0.0, low_open=True)
    max_iterations = check_positive_int("max_iterations", max_iterations)
    S, A = data.n_states, data.n_actions
    if pessimism in ("spibb", "certified") and features is not None:
        raise ValueError(f"pessimism={pessimism!r} needs tabular data: pass features=None, or use 'lcb' with features")
    if pessimism == "certified":
        if step_bonus != 0.0:
            raise ValueError("pessimism='certified' certifies RIFT's objective: step_bonus must be 0")
        conf = outcome_confidence(data, delta)
        pi, Q, V, it, converged = certified_policy_iteration(conf, pi_ref, alpha, gamma, tol=tol)
        return _fitted(FittedSoftQ(pi, Q, V, None, conf.counts, it, converged, pessimism), tol)
    if pessimism == "lcb" and features is None:  # robust_soft_value_iteration's operator, by the one loop
        conf = outcome_confidence(data, delta)
        sol = operator_iteration(RobustSoftBellman(conf, pi_ref, alpha, gamma, step_bonus), "value_iteration",
                                 tol=tol, max_iterations=max_iterations, name="fitted_soft_q_iteration")
        return FittedSoftQ(sol.policy, sol.Q, sol.V, None, conf.counts, sol.iterations, sol.converged, pessimism)
    if pessimism == "none" and features is None:
        # exact soft value iteration on the empirical model (module docstring): the core's one solver loop. Unvisited
        # pairs lead to the model's absorbing extra state, and x = 0 there keeps their Q at 0, as the mean target does
        model = empirical_model(data, gamma)
        x = np.vstack([np.where(model.counts > 0, step_bonus - model.beta_hat, 0.0), np.zeros((1, A))])
        sol = operator_iteration(DenseSoftBellman(model.mdp, model.supervisor, x, model.extend(pi_ref), alpha),
                                 "value_iteration", tol=tol, max_iterations=max_iterations,
                                 name="fitted_soft_q_iteration")
        return FittedSoftQ(model.restrict(sol.policy), model.restrict(sol.Q), model.restrict(sol.V), None, model.counts,
                           sol.iterations, sol.converged, pessimism)
    pair = data.state * A + data.action
    counts = np.bincount(pair, minlength=S * A).astype(float)
    reward = data.learner_reward + step_bonus
    cont = gamma * (~data.terminal)
    if features is None:  # spibb: the core's one solver loop on the empirical mean target
        T = SpibbSoftBellman(data, pi_ref, alpha, gamma, spibb_threshold, step_bonus)
        sol = operator_iteration(T, "value_iteration", tol=tol, max_iterations=max_iterations,
                                 name="fitted_soft_q_iteration")
        return FittedSoftQ(sol.policy, sol.Q, sol.V, None, T.counts, sol.iterations, sol.converged, pessimism)
    # linear: fitted iteration, which is not a contraction, so it stops when the fit settles (max |dQ| <= tol)
    phi = as_float_array("features", features)
    if phi.ndim != 3 or phi.shape[:2] != (S, A):
        raise ValueError(f"features has shape {phi.shape}, expected (S, A, d) = ({S}, {A}, d)")
    ridge = check_scalar("ridge", ridge, low=0.0, low_open=True)
    X = phi[data.state, data.action]  # (N, d)
    N, d = X.shape
    with np.errstate(over="ignore", invalid="ignore"):
        XtX = X.T @ X
    if not np.isfinite(XtX).all():
        raise ValueError("features are too large: X^T X overflows (rescale the features)")
    gram = np.linalg.cholesky(XtX + ridge * np.eye(d))
    penalty = np.zeros((S, A))
    if pessimism == "lcb":
        H = 1.0 if data.semantics == "terminate" else 1.0 / (1.0 - gamma)
        width = np.linalg.norm(np.linalg.solve(gram, phi.reshape(S * A, d).T), axis=0).reshape(S, A)
        penalty = bonus_scale * H * np.sqrt(d * np.log(2.0 * d * N / delta)) * width
    floor = (min(step_bonus, 0.0) - 1.0) / (1.0 - gamma)  # below any achievable value
    Q, w = np.zeros((S, A)), np.zeros(d)
    converged = False
    for it in range(1, max_iterations + 1):
        V = soft_backup(Q, pi_ref, alpha)[0]
        y = reward + cont * V[data.next_state]
        w = np.linalg.solve(gram.T, np.linalg.solve(gram, X.T @ y))
        Q_new = phi @ w
        Q_new = np.maximum(Q_new - penalty, floor) if pessimism == "lcb" else Q_new
        if not np.isfinite(Q_new).all():
            raise FloatingPointError(f"fitted soft Q iteration diverged at iteration {it} (try a larger ridge)")
        delta_q = float(np.abs(Q_new - Q).max())
        Q = Q_new
        if delta_q <= tol:
            converged = True
            break
    V, pi = soft_backup(Q, pi_ref, alpha)[:2]
    return _fitted(FittedSoftQ(pi, Q, V, w, counts.reshape(S, A), it, converged, pessimism), tol)


class SpibbSoftBellman:
    r"""The SPIBB soft Bellman operator of e-stop data, for :func:`~rift_core.exact.rift.operator_iteration`::

        Q(s, a) = r_hat(s, a) + sum_i [i is a row of (s, a)] gamma (1 - terminal_i) V(s'_i) / n(s, a),
        (T V)(s) = the soft maximisation of Q that keeps pi_ref on the pairs seen fewer than ``threshold`` times
                   (:func:`spibb_backup`),

    ``r_hat`` the mean learner reward (plus ``step_bonus``) of the pair's rows and ``Q = 0`` on unvisited pairs. A
    ``gamma``-contraction: each row of the empirical transition sums to at most ``gamma``, and the backup is a
    maximisation over policies. Value iteration only.
    """

    def __init__(self, data: EStopData, pi_ref, alpha: float, gamma: float, threshold: int, step_bonus: float = 0.0):
        S, A = data.n_states, data.n_actions
        self.pi_ref, self.alpha, self.gamma, self.modulus = pi_ref, alpha, gamma, gamma
        pair = data.state * A + data.action
        counts = np.bincount(pair, minlength=S * A).astype(float)
        inv = np.where(counts > 0, 1.0 / np.maximum(counts, 1.0), 0.0)
        self.r_hat = (np.bincount(pair, data.learner_reward + step_bonus, S * A) * inv).reshape(S, A)
        self.M = sp.csr_array((gamma * (~data.terminal) * inv[pair], (pair, data.next_state)), shape=(S * A, S))
        self.counts = counts.reshape(S, A)
        self.bootstrapped = self.counts < threshold

    def apply(self, V: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        Q = self.r_hat + (self.M @ V).reshape(self.r_hat.shape)
        TV = spibb_backup(Q, self.pi_ref, self.alpha, self.bootstrapped)[0]
        return TV, Q, float(np.abs(TV - V).max())

    def greedy(self, Q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pi = spibb_backup(Q, self.pi_ref, self.alpha, self.bootstrapped)[1]
        with np.errstate(divide="ignore"):
            return pi, np.log(pi)


def _fitted(fit: FittedSoftQ, tol: float) -> FittedSoftQ:
    # the core's one rule for stopping early (rift_core.exact.rift.operator_iteration): a warning, and converged=False
    if not fit.converged:
        warnings.warn(f"fitted_soft_q_iteration (pessimism={fit.pessimism!r}) stopped after {fit.iterations} "
                      f"iterations without settling to tol={tol:g}", ConvergenceWarning, stacklevel=3)
    return fit


@dataclass(frozen=True, eq=False)
class EmpiricalModel:
    """The certainty-equivalent model of an e-stop dataset.

    ``mdp`` and ``supervisor`` have one extra state ``S`` (absorbing, never
    stopped, reward 0) that every unvisited pair leads to; ``beta_hat`` is the
    observed stop rate (0 where unvisited); ``counts`` the visits.
    Use :meth:`extend` / :meth:`restrict` to move policies between ``S`` and ``S + 1`` states.
    """

    mdp: FiniteMDP
    supervisor: StopSupervisor
    beta_hat: np.ndarray
    counts: np.ndarray

    def extend(self, pi) -> np.ndarray:
        """Append the extra state's row (uniform) to a policy on the original states."""
        A = self.counts.shape[1]
        return np.vstack([np.asarray(pi, dtype=float), np.full((1, A), 1.0 / A)])

    def restrict(self, pi) -> np.ndarray:
        """Drop the extra state's row."""
        return np.asarray(pi)[:-1]


def empirical_model(data: EStopData, gamma: float) -> EmpiricalModel:
    r"""Estimate ``beta_hat[s, a] = stops / visits`` and ``P_hat[s, a, s'] = moves to s' / non-stopped visits``.

    Task rewards are not estimated (the learner never sees them): the model's
    ``r`` is 0. Under ``truncate`` a stopped row stays in ``s``, which the
    supervised kernel adds by itself, so only non-stopped rows enter ``P_hat``.
    A pair seen only stopped under ``terminate`` has no observed successor; it
    is sent to the extra absorbing state (its value is then ``-beta_hat = -1``
    either way).
    """
    gamma = check_scalar("gamma", gamma, low=0.0, high=1.0, high_open=True)
    S, A = data.n_states, data.n_actions
    pair = data.state * A + data.action
    counts = np.bincount(pair, minlength=S * A).astype(float)
    stops = np.bincount(pair, data.stopped.astype(float), S * A)
    moved = ~data.stopped
    moves = sp.coo_array((np.ones(moved.sum()), (pair[moved], data.next_state[moved])), shape=(S * A, S + 1)).tocsr()
    moves.sum_duplicates()
    row_mass = np.asarray(moves.sum(axis=1)).ravel()
    P = np.zeros((S + 1, A, S + 1))
    dense = moves.toarray()
    has = row_mass > 0
    P.reshape((S + 1) * A, S + 1)[: S * A][has] = dense[has] / row_mass[has, None]
    P.reshape((S + 1) * A, S + 1)[: S * A][~has, S] = 1.0
    P[S, :, S] = 1.0
    beta_hat = np.where(counts > 0, stops / np.maximum(counts, 1.0), 0.0).reshape(S, A)
    rho = np.zeros(S + 1)
    first = np.r_[True, data.episode[1:] != data.episode[:-1]]
    rho[:S] = np.bincount(data.state[first], minlength=S) / first.sum()
    mdp = FiniteMDP(P, np.zeros((S + 1, A)), rho, gamma)
    sup = StopSupervisor(np.vstack([beta_hat, np.zeros((1, A))]), data.semantics, "empirical")
    return EmpiricalModel(mdp, sup, beta_hat, counts.reshape(S, A))


@dataclass(frozen=True)
class IteratedRIFT:
    """Result of :func:`iterated_rift`: the policy after each round and the data it had seen."""

    policies: list
    episodes: np.ndarray
    data: EStopData


def iterated_rift(mdp: FiniteMDP, supervisor, pi0, alpha: float, *, rounds: int, episodes_per_round: int,
                  horizon: int, seed: int = 0, pessimism: str = "lcb", delta: float = 0.05,
                  spibb_threshold: int = 10) -> IteratedRIFT:
    r"""On-policy sample-based RIFT: collect with the current policy, refit on all data, repeat.

    Round 0 collects ``episodes_per_round`` episodes with ``pi0``; each later round
    collects as many with the policy fitted so far. Every fit is
    :func:`fitted_soft_q_iteration` with the prior as reference, on everything
    collected, with the same ``pessimism`` (the safe ``"lcb"`` by default: each
    round's policy then carries the guarantee of the book's ``cor-safe-improvement`` at
    level ``delta``; over ``rounds`` rounds, jointly at ``rounds * delta``).
    ``supervisor`` may be a :class:`~rift_core.data.sampling.DelayedSupervisor`.
    """
    rounds = check_positive_int("rounds", rounds)
    rng = np.random.default_rng(seed)
    policy, data = np.asarray(pi0, dtype=float), None
    policies, episodes = [], []
    for _ in range(rounds):
        batch = rollout(mdp, supervisor, policy, episodes_per_round, horizon, seed=rng)
        data = batch if data is None else data.concatenate(batch)
        policy = fitted_soft_q_iteration(data, pi0, alpha, mdp.gamma, pessimism=pessimism, delta=delta,
                                         spibb_threshold=spibb_threshold).policy
        policies.append(policy)
        episodes.append(data.n_episodes)
    return IteratedRIFT(policies, np.array(episodes), data)
