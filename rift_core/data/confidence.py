r"""Confidence sets from e-stop data, pessimistic values, and a certificate computed from data alone.

The book's chapter ``safe-learning`` states and proves what this module
computes (its ``thm-data-certificate`` and ``cor-safe-improvement``).

**Outcomes.** One step from ``(s, a)`` ends in one of ``K = S + 1`` outcomes:
outcome 0 is a stop, outcome ``1 + s'`` a move to ``s'`` without one. A row
of :class:`~rift_core.data.sampling.EStopData` shows exactly one outcome, so the
outcome distribution ``p(. | s, a)`` holds both the stop rate and the
dynamics: ``p(0 | s, a) = beta(s, a)`` and ``p(1 + s' | s, a) = (1 - beta) P(s' | s, a)``.

**Confidence sets.** With ``n = n(s, a)`` visits and empirical frequencies
``p_hat``, the set is an L1 ball (Weissman et al. 2003) cut by a box of
per-outcome Chernoff intervals,

    U(s, a) = { p in the simplex : ||p - p_hat||_1 <= e(s, a),  l_o <= p_o <= u_o },
    e(s, a) = sqrt( (2 / n) [ K log 2 + log( 2 S A n (n + 1) / delta ) ] ),
    [l_o, u_o] = { q : kl(p_hat_o, q) <= log( 4 S A K n (n + 1) / delta ) / n },

``kl`` the Bernoulli relative entropy, and the whole simplex where ``n = 0``.
Each family holds at level ``delta / 2`` by a union bound over pairs,
outcomes, sides and every possible count ``n`` (weight ``1 / (n (n + 1))``),
so with probability at least ``1 - delta`` over the data every true
``p(. | s, a)`` lies in its set. The box matters where an outcome was never
seen: its upper bound falls as ``1 / n``, not ``1 / sqrt(n)``.

**Values.** For ``V`` on states, the value of outcome ``o`` of ``(s, a)`` is
``f_V(s, a, 0) = bonus - 1 + gamma V(s) [truncate] or bonus - 1 [terminate]``
and ``f_V(s, a, 1 + s') = bonus + gamma V(s')``. The pessimistic backup is
``Q_low(s, a) = min_{p in U(s, a)} p . f_V(s, a)`` (:func:`worst_case_expectation`),
the optimistic one the ``max``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numba
import numpy as np

from .._validation import as_float_array, check_policy, check_positive_int, check_scalar
from ..exact.evaluation import kl_per_state
from ..exact.rift import _backup_weights, _soft_value, operator_iteration, soft_backup
from .sampling import EStopData, check_estop_data

__all__ = ["OutcomeConfidence", "outcome_confidence", "worst_case_distribution", "worst_case_expectation", "outcome_values",
           "robust_policy_value", "RobustSoftBellman", "robust_soft_value_iteration", "certified_policy_iteration", "monte_carlo_upper", "Certificate", "certify",
           "epsilon_bound"]


def _check_delta(delta) -> float:
    return check_scalar("delta", delta, low=0.0, high=1.0, low_open=True, high_open=True)


def _check_solver(conf, pi_ref, alpha: float, gamma: float, *, alpha_zero: bool = False):
    """Validate the arguments every robust solver takes; returns ``(pi_ref, alpha, gamma)``."""
    if not isinstance(conf, OutcomeConfidence):
        raise TypeError(f"conf must be an OutcomeConfidence (see outcome_confidence), got {type(conf).__name__}")
    S, A = conf.counts.shape
    pi_ref = check_policy("pi_ref", pi_ref, S, A)
    alpha = check_scalar("alpha", alpha, low=0.0, low_open=not alpha_zero)
    gamma = check_scalar("gamma", gamma, low=0.0, high=1.0, high_open=True)
    return pi_ref, alpha, gamma


def _delta_share(delta: float, rho, collected_by_prior) -> float:
    """``delta`` split evenly between the events a certificate uses: the model, the start set, the Monte Carlo bound."""
    if not isinstance(collected_by_prior, (bool, np.bool_)):
        raise TypeError(f"collected_by_prior must be a bool, got {type(collected_by_prior).__name__}")
    return delta / (1 + (rho is None) + bool(collected_by_prior))


def l1_radius(counts: np.ndarray, n_outcomes: int, n_pairs: int, delta: float) -> np.ndarray:
    r"""``e = sqrt((2 / n) [K log 2 + log(n_pairs n (n + 1) / delta)])``, and 2 where ``n = 0``.

    Weissman et al.'s inequality, ``P(||p_hat_n - p||_1 >= e) <= 2^K exp(-n e^2 / 2)``,
    at level ``delta / (n_pairs n (n + 1))``: summed over pairs and over ``n >= 1``
    the failure probabilities add up to at most ``delta``.
    """
    n = np.asarray(counts, dtype=float)
    safe = np.maximum(n, 1.0)
    e = np.sqrt(2.0 / safe * (n_outcomes * np.log(2.0) + np.log(n_pairs * safe * (safe + 1.0) / delta)))
    return np.where(n > 0, np.minimum(e, 2.0), 2.0)


def bernoulli_kl(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    r"""``kl(p, q) = p log(p / q) + (1 - p) log((1 - p) / (1 - q))``, with ``0 log 0 = 0``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(p > 0, p * np.log(p / q), 0.0)
        b = np.where(p < 1, (1 - p) * np.log((1 - p) / (1 - q)), 0.0)
    return a + b


def chernoff_box(p_hat: np.ndarray, counts: np.ndarray, n_pairs: int, delta: float) -> tuple[np.ndarray, np.ndarray]:
    r"""Per-outcome intervals ``[l, u] = {q : kl(p_hat, q) <= L / n}``, ``L = log(2 n_pairs K n (n + 1) / delta)``.

    By the Chernoff bound for ``n`` i.i.d. indicators with mean ``p``,
    ``P(p_hat <= p - t) <= exp(-n kl(p - t, p))`` and likewise above, so each
    side fails with probability at most ``exp(-L) = delta / (2 n_pairs K n (n + 1))``;
    summed over the two sides, ``K`` outcomes, ``n_pairs`` pairs and every count
    ``n >= 1`` the failures add up to at most ``delta``. An outcome never seen in ``n``
    visits gets ``u = 1 - exp(-L / n)``, about ``L / n``. ``n = 0`` gives ``[0, 1]``.
    The endpoints are found by bisection (60 halvings: to ``1e-18``), rounded outwards.
    """
    K = p_hat.shape[-1]
    n = np.asarray(counts, dtype=float)[..., None]
    safe = np.maximum(n, 1.0)
    level = np.log(2.0 * n_pairs * K * safe * (safe + 1.0) / delta) / safe
    p = np.clip(p_hat, 0.0, 1.0)

    def solve(lo, hi, upward):
        # kl(p, q) is increasing in q on [p, 1] and decreasing on [0, p]: find where it crosses `level`
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            inside = bernoulli_kl(p, mid) <= level
            if upward:
                lo, hi = np.where(inside, mid, lo), np.where(inside, hi, mid)
            else:
                lo, hi = np.where(inside, lo, mid), np.where(inside, mid, hi)
        return hi if upward else lo

    upper = solve(p, np.ones_like(p), True)
    lower = solve(np.zeros_like(p), p, False)
    unseen = n == 0
    return np.where(unseen, 0.0, lower), np.where(unseen, 1.0, upper)


def worst_case_distribution(f, p_hat, radius, lower=None, upper=None) -> np.ndarray:
    r"""The minimiser of ``p . f`` over ``{p in the simplex : ||p - p_hat||_1 <= radius, lower <= p <= upper}``.

    Along the last axis; ``radius`` has the shape of ``f`` without it, and
    ``lower``/``upper`` default to 0 and 1. It moves mass ``m <= radius / 2``
    from outcomes of high ``f`` (down to ``lower``, highest first) to outcomes of
    low ``f`` (up to ``upper``, lowest first), for as long as a move lowers
    ``p . f``: each unit moved gains ``f(receiver) - f(donor)``, which grows as
    the cheapest receivers fill and the dearest donors drain, so this greedy
    transport is optimal.
    """
    f = as_float_array("f", f)
    p_hat = as_float_array("p_hat", p_hat, f.shape)
    radius = as_float_array("radius", radius, f.shape[:-1])
    if (p_hat < 0).any() or not np.allclose(p_hat.sum(axis=-1), 1.0, rtol=0, atol=1e-9):
        raise ValueError("p_hat must hold probability vectors along its last axis")
    if (radius < 0).any():
        raise ValueError("radius must be >= 0")
    lower = np.zeros_like(p_hat) if lower is None else as_float_array("lower", lower, f.shape)
    upper = np.ones_like(p_hat) if upper is None else as_float_array("upper", upper, f.shape)
    if (lower > p_hat + 1e-12).any() or (upper < p_hat - 1e-12).any():
        raise ValueError("the box [lower, upper] must contain p_hat")
    return _transport(f, p_hat, radius, lower, upper)


def _transport(f, p_hat, radius, lower, upper) -> np.ndarray:
    """:func:`worst_case_distribution` on arguments already checked (the solvers' inner loop): the pairs flattened,
    and each pair's greedy transport run by a compiled loop (numpy's version was two dozen calls per sweep, which
    made the pessimistic learner's value iteration cost a millisecond a sweep on the book's small MDPs)."""
    shape = np.broadcast_shapes(f.shape, p_hat.shape)
    K = shape[-1]

    def dense(a, target):  # C order, float64, broadcast only when needed: no copy when it already is
        a = np.asarray(a)
        return np.ascontiguousarray(a if a.shape == target else np.broadcast_to(a, target), dtype=np.float64)

    f, p_hat, lower, upper = (dense(a, shape).reshape(-1, K) for a in (f, p_hat, lower, upper))
    return _greedy_transport(f, p_hat, dense(radius, shape[:-1]).reshape(-1), lower, upper).reshape(shape)


@numba.njit(cache=True)
def _greedy_transport(f, p_hat, radius, lower, upper):
    """Row by row: move mass, at most ``radius / 2`` in all, from the outcomes of highest ``f`` (each down to
    ``lower``) to those of lowest ``f`` (each up to ``upper``) while a unit moved lowers ``p . f``."""
    N, K = f.shape
    p = p_hat.copy()
    for n in range(N):
        up = np.argsort(f[n], kind="mergesort")  # receivers, lowest f first; donors: the reverse
        budget = radius[n] / 2.0
        i, j = 0, K - 1
        room = upper[n, up[0]] - p_hat[n, up[0]]
        spare = p_hat[n, up[K - 1]] - lower[n, up[K - 1]]
        while budget > 0.0 and i < K and j >= 0:
            r, d = up[i], up[j]
            if f[n, r] >= f[n, d]:
                break  # no move lowers p . f any more (the gain only grows from here)
            m = min(budget, max(room, 0.0), max(spare, 0.0))
            p[n, r] += m
            p[n, d] -= m
            budget -= m
            room -= m
            spare -= m
            if room <= 0.0:
                i += 1
                if i < K:
                    room = upper[n, up[i]] - p_hat[n, up[i]]
            if spare <= 0.0:
                j -= 1
                if j >= 0:
                    spare = p_hat[n, up[j]] - lower[n, up[j]]
    return p


def worst_case_expectation(f: np.ndarray, p_hat: np.ndarray, radius, lower=None, upper=None, *,
                           best: bool = False) -> np.ndarray:
    r"""``min_p p . f`` over the confidence set of :func:`worst_case_distribution`; ``best=True``: the ``max``."""
    if best:
        return -worst_case_expectation(-f, p_hat, radius, lower, upper)
    return np.sum(worst_case_distribution(f, p_hat, radius, lower, upper) * f, axis=-1)


@dataclass(frozen=True, eq=False)
class OutcomeConfidence:
    r"""The confidence sets of one dataset (see the module docstring).

    ``p_hat[s, a, o]`` the empirical outcome frequencies (uniform where
    unvisited: any point will do when the set is the simplex), ``radius[s, a] = e(s, a)``,
    ``lower``/``upper`` the per-outcome box, ``counts[s, a] = n(s, a)``, and the
    level ``delta`` they hold at jointly.
    """

    p_hat: np.ndarray
    radius: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    counts: np.ndarray
    delta: float
    semantics: str

    @property
    def n_states(self) -> int:
        return self.counts.shape[0]

    def expectation(self, f: np.ndarray, *, best: bool = False) -> np.ndarray:
        """``min`` (``best``: ``max``) of ``p . f[s, a]`` over each pair's set; ``f`` of shape ``(S, A, K)``."""
        return np.sum(self.distribution(f, best=best) * f, axis=-1)

    def distribution(self, f: np.ndarray, *, best: bool = False) -> np.ndarray:
        """The minimising (``best``: maximising) outcome distribution of each pair, shape ``(S, A, K)``."""
        sign = -1.0 if best else 1.0
        return _transport(sign * f, self.p_hat, self.radius, self.lower, self.upper)


def outcome_confidence(data: EStopData, delta: float = 0.05) -> OutcomeConfidence:
    r"""Count each pair's outcomes and build its confidence set; all sets hold jointly with probability ``>= 1 - delta``."""
    data = check_estop_data(data)
    delta = _check_delta(delta)
    S, A = data.n_states, data.n_actions
    K = S + 1
    outcome = np.where(data.stopped, 0, 1 + data.next_state)
    flat = (data.state * A + data.action) * K + outcome
    tally = np.bincount(flat, minlength=S * A * K).reshape(S, A, K).astype(float)
    counts = tally.sum(axis=2)
    p_hat = np.where(counts[..., None] > 0, tally / np.maximum(counts, 1.0)[..., None], 1.0 / K)
    lower, upper = chernoff_box(p_hat, counts, S * A, delta / 2.0)
    return OutcomeConfidence(p_hat, l1_radius(counts, K, S * A, delta / 2.0), lower, upper, counts, delta,
                             data.semantics)


def outcome_values(V: np.ndarray, gamma: float, semantics: str, step_bonus: float = 0.0) -> np.ndarray:
    r"""``f_V[s, o]``: the value of each outcome ``o`` from state ``s`` (broadcast over actions by the caller).

    ``f_V[s, 0] = bonus - 1 + gamma V(s)`` under ``truncate`` (a stop halts in
    place) and ``bonus - 1`` under ``terminate``; ``f_V[s, 1 + s'] = bonus + gamma V(s')``.
    """
    S = V.shape[0]
    f = np.empty((S, S + 1))
    f[:, 0] = step_bonus - 1.0 + (gamma * V if semantics == "truncate" else 0.0)
    f[:, 1:] = step_bonus + gamma * V[None, :]
    return f


def _q_bound(conf: OutcomeConfidence, V: np.ndarray, gamma: float, best: bool, step_bonus: float = 0.0) -> np.ndarray:
    f = outcome_values(V, gamma, conf.semantics, step_bonus)[:, None, :]
    return conf.expectation(np.broadcast_to(f, conf.p_hat.shape), best=best)


def robust_policy_value(conf: OutcomeConfidence, policy, pi_ref, alpha: float, gamma: float, *,
                        best: bool = False, tol: float = 1e-10, max_iterations: int = 10_000) -> np.ndarray:
    r"""The fixed point of ``V(s) = sum_a pi(a|s) Q_low(s, a) - alpha KL(pi(.|s) || pi_ref(.|s))``.

    ``Q_low`` is the worst case over the confidence sets (``best=True``: the
    best case). On the event that the sets hold, it is a lower (upper) bound
    on the policy's true regularised stop value in every state (the book's
    ``thm-data-certificate``). A policy that leaves ``pi_ref``'s support makes
    every value ``-inf`` (a valid, vacuous lower bound).

    Solved by policy iteration for the adversary: evaluate the current outcome
    distributions exactly (one linear solve), let the adversary answer with its
    minimising distributions (:func:`worst_case_distribution`), and repeat
    until the value moves by less than ``tol``. Each step lowers the value
    (raises it, for ``best``), and the adversary's answers are vertices of
    finitely many polytopes, so in exact arithmetic it ends with the adversary's
    answer unchanged; in floating point the last steps move the value by
    rounding only, which ``tol`` absorbs (the linear solves amplify rounding by
    up to ``1 / (1 - gamma)``, so a tolerance scaled down by ``1 - gamma`` would not).
    """
    pi_ref, alpha, gamma = _check_solver(conf, pi_ref, alpha, gamma, alpha_zero=True)
    S, A = conf.counts.shape
    pi = check_policy("policy", policy, S, A)
    cost = alpha * kl_per_state(pi, pi_ref) if alpha > 0 else np.zeros(S)
    if not np.isfinite(cost).all():
        # leaving the prior's support costs KL = inf wherever it is reached: the only safe bound is -inf
        return np.full(S, -np.inf)
    truncate = conf.semantics == "truncate"

    def evaluate(p):
        q = np.einsum("sa,sao->so", pi, p)  # outcome distribution under pi, per state
        P = q[:, 1:] + (np.diag(q[:, 0]) if truncate else 0.0)
        return np.linalg.solve(np.eye(S) - gamma * P, -q[:, 0] - cost)

    V = evaluate(conf.p_hat)
    for _ in range(max_iterations):
        f = np.broadcast_to(outcome_values(V, gamma, conf.semantics)[:, None, :], conf.p_hat.shape)
        V_new = evaluate(conf.distribution(f, best=best))
        diff = float(np.abs(V_new - V).max())
        V = V_new
        if diff <= tol:
            return V
    raise RuntimeError(f"robust evaluation did not converge in {max_iterations} iterations")


def _horizon(gamma: float, semantics: str) -> float:
    """The range ``H`` of the stop value: 1 under terminate (one stop at most), ``1 / (1 - gamma)`` under truncate."""
    return 1.0 if semantics == "terminate" else 1.0 / (1.0 - gamma)


class RobustSoftBellman:
    r"""The pessimistic soft Bellman operator of e-stop data, for :func:`~rift_core.exact.rift.operator_iteration`:

        (T V)(s) = alpha log sum_a pi_ref(a|s) exp(Q_low(s, a) / alpha),   Q_low(s, a) = min_{p in U(s, a)} p . f_V(s, a),

    with ``f_V`` the outcome values (bonus ``step_bonus`` per step) and ``U`` the confidence sets of ``conf``
    (module docstring). A ``gamma``-contraction in the sup norm, as the minimum over sets of sub-stochastic
    expectations is. Value iteration only: it has no policy evaluation.
    """

    def __init__(self, conf: OutcomeConfidence, pi_ref, alpha: float, gamma: float, step_bonus: float = 0.0):
        self.conf = conf
        self.pi_ref, self.alpha, self.gamma = _check_solver(conf, pi_ref, alpha, gamma)
        self.step_bonus = check_scalar("step_bonus", step_bonus)
        self.modulus = self.gamma
        self._weight, self._off_support = _backup_weights(self.pi_ref)

    def apply(self, V: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        Q = _q_bound(self.conf, V, self.gamma, False, self.step_bonus)
        TV = _soft_value(Q, self._weight, self._off_support, self.alpha)
        return TV, Q, float(np.abs(TV - V).max())

    def greedy(self, Q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        _, pi, _, log_pi = soft_backup(Q, self.pi_ref, self.alpha)
        return pi, log_pi


def robust_soft_value_iteration(conf: OutcomeConfidence, pi_ref: np.ndarray, alpha: float, gamma: float, *,
                                step_bonus: float = 0.0, tol: float = 1e-10, max_iterations: int = 100_000):
    r"""Iterate ``V(s) = alpha log sum_a pi_ref(a|s) exp(Q_low(s, a) / alpha)`` to its fixed point
    (:class:`RobustSoftBellman` by :func:`~rift_core.exact.rift.operator_iteration`'s value iteration: ``V`` within
    ``tol`` of the fixed point, a ``ConvergenceWarning`` if it stops early).

    Returns ``(policy, Q_low, V, iterations, converged)``, ``policy = pi_ref
    exp((Q_low - V) / alpha)``. The operator is a ``gamma``-contraction; the
    policy maximises the pessimistic value ``robust_policy_value`` in every
    state (the book's ``cor-safe-improvement``).
    """
    T = RobustSoftBellman(conf, pi_ref, alpha, gamma, step_bonus)
    tol = check_scalar("tol", tol, low=0.0, low_open=True)
    max_iterations = check_positive_int("max_iterations", max_iterations)
    sol = operator_iteration(T, "value_iteration", tol=tol, max_iterations=max_iterations,
                             name="robust_soft_value_iteration")
    return sol.policy, sol.Q, sol.V, sol.iterations, sol.converged


def certified_policy_iteration(conf: OutcomeConfidence, pi_ref: np.ndarray, alpha: float, gamma: float, *,
                               max_iterations: int = 100, tol: float = 1e-10):
    r"""Soft policy iteration that moves only where the data certify a gain: never worse than ``pi_ref``.

    From ``pi_0 = pi_ref``, each round bounds the current policy's regularised
    values, ``V_low <= V^{pi_k} <= V_up`` (:func:`robust_policy_value`), forms
    ``Q_low(s, a) = min_{q in U(s, a)} q . f_{V_low}(s)`` and, in each state, the
    soft-greedy candidate ``mu(.|s) ∝ pi_ref exp(Q_low / alpha)`` with certified value
    ``G(s) = alpha log sum_a pi_ref exp(Q_low(s, a) / alpha)``. It switches to ``mu``
    exactly where ``G(s) > V_up(s) + tol`` and keeps ``pi_k`` elsewhere. By the
    evaluation identity, ``L_alpha(pi_k+1) - L_alpha(pi_k) = sum_s y(s) [(T^{pi_k+1} V^{pi_k})(s) - V^{pi_k}(s)]``,
    each term 0 where nothing changed and at least ``G(s) - V_up(s) > 0`` where it
    did, on the event that the sets hold: the sequence never decreases, and
    ``L_alpha(pi_K) >= L_alpha(pi_ref)`` (the book's ``thm-certified-improvement``).

    Returns ``(policy, Q_low, V_low, rounds, converged)`` for the last policy;
    ``converged`` when a round switched no state. The guarantee has no margin,
    and the price is caution: a state switches only once its certified gain
    exceeds the whole width ``V_up - V_low`` there, which needs far more data
    than :func:`robust_soft_value_iteration` does to move.
    """
    pi_ref, alpha, gamma = _check_solver(conf, pi_ref, alpha, gamma)
    max_iterations = check_positive_int("max_iterations", max_iterations)
    tol = check_scalar("tol", tol, low=0.0)
    pi = pi_ref.copy()
    for it in range(1, max_iterations + 1):
        V_low = robust_policy_value(conf, pi, pi_ref, alpha, gamma)
        V_up = robust_policy_value(conf, pi, pi_ref, alpha, gamma, best=True)
        Q_low = _q_bound(conf, V_low, gamma, False)
        G, mu, _, _ = soft_backup(Q_low, pi_ref, alpha)
        switch = (G > V_up + tol) & ~np.all(np.abs(mu - pi) <= 1e-12, axis=1)
        if not switch.any():
            return pi, Q_low, V_low, it, True
        pi = np.where(switch[:, None], mu, pi)
    return pi, Q_low, V_low, max_iterations, False


def _start_bounds(data: EStopData, rho, delta: float):
    """``(rho_hat, radius)``: the start distribution given (radius 0) or estimated from episode starts."""
    S = data.n_states
    if rho is not None:
        rho = np.asarray(rho, dtype=float)
        if rho.shape != (S,):
            raise ValueError(f"rho has shape {rho.shape}, expected ({S},)")
        if not np.isfinite(rho).all() or (rho < 0).any() or not np.isclose(rho.sum(), 1.0, rtol=0, atol=1e-9):
            raise ValueError(f"rho must be a probability vector over the {S} states, got sum {rho.sum()!r}")
        seen = np.bincount(data.state, minlength=S) > 0
        missing = np.flatnonzero((rho > 0) & ~seen)
        if missing.size:
            s = int(missing[0])
            raise ValueError(f"rho[{s}] = {rho[s]:g} but the data never visit state {s}: "
                             "the certificate cannot speak for a start state without data")
        return rho, 0.0
    first = np.r_[True, data.episode[1:] != data.episode[:-1]]
    starts = data.state[first]
    n = len(starts)
    rho_hat = np.bincount(starts, minlength=S) / n
    radius = float(np.sqrt(2.0 / n * (S * np.log(2.0) + np.log(1.0 / delta))))
    return rho_hat, min(radius, 2.0)


def monte_carlo_upper(data: EStopData, gamma: float, delta: float) -> float:
    r"""An upper bound on the behaviour policy's ``J_I``, from its episodes' discounted stop counts.

    ``X_i = sum_t gamma^t stopped_t`` in ``[0, H]`` (``H = 1`` under terminate,
    ``1 / (1 - gamma)`` under truncate) are i.i.d. over episodes, and a time
    limit only drops stops, so ``J_I = -E[X_infinite] <= -E[X_i]``. Maurer and
    Pontil's empirical Bernstein bound at level ``delta`` gives
    ``J_I <= -mean(X) + sqrt(2 V log(2 / delta) / n) + 7 H log(2 / delta) / (3 (n - 1))``, capped at 0.
    """
    data = check_estop_data(data)
    gamma = check_scalar("gamma", gamma, low=0.0, high=1.0, high_open=True)
    delta = _check_delta(delta)
    _, stops = data.discounted_returns(gamma)
    n = len(stops)
    if n < 2:
        return 0.0
    H = _horizon(gamma, data.semantics)
    L = np.log(2.0 / delta)
    bound = -stops.mean() + np.sqrt(2.0 * stops.var(ddof=1) * L / n) + 7.0 * H * L / (3.0 * (n - 1))
    return float(min(bound, 0.0))


@dataclass(frozen=True)
class Certificate:
    r"""What the data certify about ``policy`` against the prior, jointly with probability ``>= 1 - delta``.

    Attributes
    ----------
    objective_lower: ``<= L_alpha(policy) = J_I - alpha D``.
    stop_value_lower: ``<= J_I(policy)`` (the discounted stop value, ``-p_stop``).
    prior_stop_value_lower, prior_stop_value_upper: bracket ``J_I(pi_ref) = L_alpha(pi_ref)``.
    improvement_lower: ``objective_lower - prior_stop_value_upper <= L_alpha(policy) - L_alpha(pi_ref)``.
    stop_improvement_lower: ``stop_value_lower - prior_stop_value_upper <= J_I(policy) - J_I(pi_ref)``.
    epsilon: ``prior_stop_value_upper - prior_stop_value_lower``: the pessimistic learner's
        policy is never worse than the prior on ``L_alpha`` by more than this (the book's ``cor-safe-improvement``).
    delta, n_episodes: the level, and the data's size.
    """

    objective_lower: float
    stop_value_lower: float
    prior_stop_value_lower: float
    prior_stop_value_upper: float
    improvement_lower: float
    stop_improvement_lower: float
    epsilon: float
    delta: float
    n_episodes: int

    def as_dict(self) -> dict:
        return asdict(self)


def certify(data: EStopData, policy, pi_ref, alpha: float, gamma: float, *, delta: float = 0.05,
            rho=None, collected_by_prior: bool = False) -> Certificate:
    r"""Certified bounds on ``policy``'s stop value and RIFT objective, from e-stop data alone.

    On the event that every confidence set holds (probability ``>= 1 - delta``,
    whatever policy collected the data and however ``policy`` was chosen from them),

        rho . V_low^{policy}  <=  L_alpha(policy)      and      J_I(pi_ref)  <=  rho . V_up^{pi_ref},

    with ``V_low``, ``V_up`` from :func:`robust_policy_value` (the book's
    ``thm-data-certificate``). The start distribution ``rho`` is taken as given,
    or (``rho=None``) estimated from the episodes' first states with its own L1
    set. With ``collected_by_prior=True`` (the data are the prior's own
    episodes) the prior's upper bound is also the Monte Carlo bound of
    :func:`monte_carlo_upper`, and the smaller of the two is kept. ``delta`` is
    split evenly between the events used (the model's sets, the start
    distribution, the Monte Carlo bound).

    The data must come from the supervisor the bounds speak for, with stops
    attributed to the step that earned them (not a delayed supervisor).
    """
    data = check_estop_data(data)
    delta = _check_delta(delta)
    S, A = data.n_states, data.n_actions
    pi = check_policy("policy", policy, S, A)
    pi_ref = check_policy("pi_ref", pi_ref, S, A)
    alpha = check_scalar("alpha", alpha, low=0.0, low_open=True)
    gamma = check_scalar("gamma", gamma, low=0.0, high=1.0, high_open=True)
    share = _delta_share(delta, rho, collected_by_prior)
    rho_hat, rho_radius = _start_bounds(data, rho, share)
    confidence = outcome_confidence(data, share)

    def start(V, best):
        if not np.isfinite(V).all():
            return -np.inf
        return float(worst_case_expectation(V, rho_hat, np.float64(rho_radius), best=best))

    objective_lower = start(robust_policy_value(confidence, pi, pi_ref, alpha, gamma), False)
    stop_lower = start(robust_policy_value(confidence, pi, pi_ref, 0.0, gamma), False)
    prior_low = start(robust_policy_value(confidence, pi_ref, pi_ref, 0.0, gamma), False)
    prior_up = start(robust_policy_value(confidence, pi_ref, pi_ref, 0.0, gamma, best=True), True)
    if collected_by_prior:
        prior_up = min(prior_up, monte_carlo_upper(data, gamma, share))
    return Certificate(objective_lower, stop_lower, prior_low, prior_up, objective_lower - prior_up,
                       stop_lower - prior_up, prior_up - prior_low, delta, int(data.n_episodes))


def epsilon_bound(data: EStopData, pi_ref, gamma: float, *, delta: float = 0.05, rho=None,
                  collected_by_prior: bool = False) -> float:
    r"""The closed form in the counts that bounds :func:`certify`'s ``epsilon`` (the book's ``prop-epsilon-rate``):

        epsilon <= H [ max_s sum_a pi_ref(a|s) min(1, e(s, a)) / (1 - gamma) + min(1, e_rho) ],

    ``e(s, a)`` the L1 radius of ``l1_radius`` at the level :func:`certify`
    gives the model (``2`` where unvisited), ``e_rho`` the start distribution's
    (0 when ``rho`` is given), ``H = 1`` under terminate and ``1 / (1 - gamma)``
    under truncate. It is ``O(H sqrt((S + log(S A n / delta)) / n_min) / (1 - gamma))``
    with ``n_min`` the fewest visits to a pair the prior plays.
    """
    data = check_estop_data(data)
    delta = _check_delta(delta)
    gamma = check_scalar("gamma", gamma, low=0.0, high=1.0, high_open=True)
    S, A = data.n_states, data.n_actions
    pi_ref = check_policy("pi_ref", pi_ref, S, A)
    share = _delta_share(delta, rho, collected_by_prior)
    _, rho_radius = _start_bounds(data, rho, share)
    conf = outcome_confidence(data, share)
    H = _horizon(gamma, data.semantics)
    spread = np.sum(pi_ref * np.minimum(1.0, conf.radius), axis=1).max()
    return float(H * (spread / (1.0 - gamma) + min(1.0, rho_radius)))
