r"""Learning RIFT from e-stop data, without the model (DESIGN §3, sample-based RIFT).

:func:`fitted_soft_q_iteration` is the sample-based RIFT learner. On a dataset
of transitions ``(s, a, stopped, s', terminal)`` it iterates

    Q(s, a) <- mean over the (s, a) rows of  [ -stopped + gamma (1 - terminal) V(s') ]
    V(s)    =  alpha log sum_a pi_ref(a | s) exp(Q(s, a) / alpha)

(the prior-weighted soft target; a stop under ``terminate`` is a terminal
transition with reward -1, a time limit bootstraps). Pairs the data never
visit keep ``Q = 0``: nothing seen there has been stopped. With ``features``
the mean is replaced by a ridge least-squares fit of ``Q_w = w . phi(s, a)``,
and the policy ``pi ∝ pi_ref exp(w . phi / alpha)`` is log-linear: this is
sample-based *linear* RIFT, and with one-hot features it is the tabular learner.

Because the data are fixed, tabular fitted iteration is exact soft value
iteration on the *empirical model* (:func:`empirical_model`): stop rates and
transition frequencies per visited pair, unvisited pairs sent to an absorbing,
never-stopped state. The baselines of the robustness table run on that model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ._validation import as_float_array, check_policy, check_positive_int, check_scalar
from .mdp import FiniteMDP, StopSupervisor
from .rift import soft_backup
from .sampling import EStopData, rollout

__all__ = ["FittedSoftQ", "fitted_soft_q_iteration", "EmpiricalModel", "empirical_model", "IteratedRIFT", "iterated_rift"]


@dataclass(frozen=True)
class FittedSoftQ:
    """Result of :func:`fitted_soft_q_iteration`.

    ``policy = pi_ref exp((Q - V) / alpha)``; ``weights`` is ``w`` for linear
    features (``None`` in the tabular case); ``counts[s, a]`` the data's visits;
    ``converged`` whether ``max |Q_k+1 - Q_k| <= tol`` was reached.
    """

    policy: np.ndarray
    Q: np.ndarray
    V: np.ndarray
    weights: np.ndarray | None
    counts: np.ndarray
    iterations: int
    converged: bool


def _check_data(data: EStopData, pi_ref) -> np.ndarray:
    if not isinstance(data, EStopData):
        raise TypeError(f"data must be an EStopData, got {type(data).__name__}")
    return check_policy("pi_ref", pi_ref, data.n_states, data.n_actions)


def fitted_soft_q_iteration(data: EStopData, pi_ref, alpha: float, gamma: float, *, features=None,
                            step_bonus: float = 0.0, ridge: float = 1e-8, tol: float = 1e-10,
                            max_iterations: int = 100_000) -> FittedSoftQ:
    r"""Fit the soft Q-function of the stop-avoidance objective to e-stop data.

    Target per row ``i``: ``y_i = -stopped_i + step_bonus + gamma (1 - terminal_i) V(s'_i)``.
    Tabular (``features=None``): ``Q(s, a) = mean of y over the rows at (s, a)``,
    0 where there are none; a ``gamma``-contraction, iterated until
    ``max |Q_k+1 - Q_k| <= tol (1 - gamma) / gamma`` (so ``Q`` is within ``tol`` of
    the fixed point). Linear (``features`` of shape ``(S, A, d)``):
    ``w = argmin sum_i (w . phi(s_i, a_i) - y_i)^2 + ridge |w|^2``, iterated the
    same way but with no contraction guarantee (``converged`` says whether it settled).

    ``pi_ref`` is the prior (RIFT) or the uniform policy with
    ``step_bonus = alpha log A`` (entropy-regularised avoidance, see
    :func:`rift_core.baselines.avoid`).
    """
    pi_ref = _check_data(data, pi_ref)
    alpha = check_scalar("alpha", alpha, low=0.0, low_open=True)
    gamma = check_scalar("gamma", gamma, low=0.0, high=1.0, high_open=True)
    step_bonus = check_scalar("step_bonus", step_bonus)
    tol = check_scalar("tol", tol, low=0.0, low_open=True)
    max_iterations = check_positive_int("max_iterations", max_iterations)
    S, A = data.n_states, data.n_actions
    pair = data.state * A + data.action
    counts = np.bincount(pair, minlength=S * A).astype(float)
    reward = data.learner_reward + step_bonus
    cont = gamma * (~data.terminal)
    if features is None:
        # mean over rows of (reward + cont V(s')) = r_hat + M V, M the discounted empirical transition matrix
        inv = np.where(counts > 0, 1.0 / np.maximum(counts, 1.0), 0.0)
        r_hat = (np.bincount(pair, reward, S * A) * inv).reshape(S, A)
        M = sp.csr_array((cont * inv[pair], (pair, data.next_state)), shape=(S * A, S))
        fit = lambda V: r_hat + (M @ V).reshape(S, A)  # noqa: E731
        threshold = tol * (1.0 - gamma) / max(gamma, 1e-300)
    else:
        phi = as_float_array("features", features)
        if phi.ndim != 3 or phi.shape[:2] != (S, A):
            raise ValueError(f"features has shape {phi.shape}, expected (S, A, d) = ({S}, {A}, d)")
        ridge = check_scalar("ridge", ridge, low=0.0, low_open=True)
        X = phi[data.state, data.action]  # (N, d)
        gram = np.linalg.cholesky(X.T @ X + ridge * np.eye(X.shape[1]))
        last = {}  # the latest weights, kept for the result

        def fit(V):
            y = reward + cont * V[data.next_state]
            last["w"] = np.linalg.solve(gram.T, np.linalg.solve(gram, X.T @ y))
            return phi @ last["w"]
        threshold = tol
    Q = np.zeros((S, A))
    converged = False
    for it in range(1, max_iterations + 1):
        V, _, _, _ = soft_backup(Q, pi_ref, alpha)
        Q_new = fit(V)
        if not np.isfinite(Q_new).all():
            raise FloatingPointError(f"fitted soft Q iteration diverged at iteration {it} (try a larger ridge)")
        delta = float(np.abs(Q_new - Q).max())
        Q = Q_new
        if delta <= threshold:
            converged = True
            break
    V, pi, _, _ = soft_backup(Q, pi_ref, alpha)
    return FittedSoftQ(pi, Q, V, None if features is None else last["w"], counts.reshape(S, A), it, converged)


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
                  horizon: int, seed: int = 0) -> IteratedRIFT:
    r"""On-policy sample-based RIFT: collect with the current policy, refit on all data, repeat.

    Round 0 collects ``episodes_per_round`` episodes with ``pi0``; each later round
    collects as many with the policy fitted so far. Every fit is
    :func:`fitted_soft_q_iteration` with the prior as reference, on everything
    collected. ``supervisor`` may be a :class:`~rift_core.sampling.DelayedSupervisor`.
    """
    rounds = check_positive_int("rounds", rounds)
    rng = np.random.default_rng(seed)
    policy, data = np.asarray(pi0, dtype=float), None
    policies, episodes = [], []
    for _ in range(rounds):
        batch = rollout(mdp, supervisor, policy, episodes_per_round, horizon, seed=rng)
        data = batch if data is None else data.concatenate(batch)
        policy = fitted_soft_q_iteration(data, pi0, alpha, mdp.gamma).policy
        policies.append(policy)
        episodes.append(data.n_episodes)
    return IteratedRIFT(policies, np.array(episodes), data)
