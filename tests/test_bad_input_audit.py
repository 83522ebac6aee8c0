"""An audit of bad inputs across the exact core's public entry points: each must fail closed with a clear error.

A case is *clear* when it raises ``ValueError``, ``TypeError`` or ``FloatingPointError`` from inside
``rift_core`` (the innermost frame of the traceback that is not numpy's or scipy's is a ``rift_core`` file) with a
message naming the argument; *unclear* when it raises from numpy, scipy or LAPACK, or without the name; *silent*
when it returns. Run with ``-s`` to see the tally; the test requires every case to be clear.
"""

import math
import traceback

import numpy as np
import scipy.sparse as sps

from rift_core import FiniteMDP, StopSupervisor, evaluate_policy, kl_per_state, solve_rift, soft_value_iteration
from rift_core import bounds, supervisors, tabular_envs
from rift_core.exact.batched import solve_rift_batched, stack
from rift_core.exact.evaluation import policy_value
from rift_core.exact.instances import random_instance
from rift_core.data.learning import empirical_model, fitted_soft_q_iteration
from rift_core.exact.linear import linear_rift, one_hot_features
from rift_core.provenance import write_results
from rift_core.data.sampling import rollout
from rift_core.exact.sparse import SparseSoftBellman, policy_iteration_sparse, soft_value_iteration_sparse

S, A = 4, 2
MDP = tabular_envs.random_mdp(S, A, gamma=0.9, seed=0)
SUP = StopSupervisor(np.full((S, A), 0.1))
PI0 = np.full((S, A), 0.5)
X = -SUP.beta
P, R, RHO = MDP.P, MDP.r, MDP.rho
DATA = rollout(MDP, SUP, PI0, 20, 10, seed=0)
SPARSE = tabular_envs.random_sparse_mdp(S, A, 2, gamma=0.9, seed=0)


def _with(a, index, value, dtype=float):
    b = np.array(a, dtype=dtype)
    b[index] = value
    return b


NAN_PI = _with(PI0, (1, 0), np.nan)
UNNORMALISED = _with(PI0, (2, 1), 0.9)
COMPLEX_P = P.astype(complex)

# (label, argument the message must name, call)
CASES = [
    # FiniteMDP
    ("FiniteMDP P shape", "P", lambda: FiniteMDP(P[:, :, :3], R, RHO, 0.9)),
    ("FiniteMDP P nan", "P", lambda: FiniteMDP(_with(P, (0, 0, 0), np.nan), R, RHO, 0.9)),
    ("FiniteMDP P negative", "P", lambda: FiniteMDP(_with(P, (0, 0, 0), -0.1), R, RHO, 0.9)),
    ("FiniteMDP P complex", "P", lambda: FiniteMDP(COMPLEX_P, R, RHO, 0.9)),
    ("FiniteMDP P string", "P", lambda: FiniteMDP("P", R, RHO, 0.9)),
    ("FiniteMDP sparse P shape", "P", lambda: FiniteMDP(sps.csr_array(P.reshape(S * A, S)[:, :3]), R, RHO, 0.9)),
    ("FiniteMDP r nan", "r", lambda: FiniteMDP(P, _with(R, (1, 1), np.nan), RHO, 0.9)),
    ("FiniteMDP r shape", "r", lambda: FiniteMDP(P, R[:, :1], RHO, 0.9)),
    ("FiniteMDP rho sum", "rho", lambda: FiniteMDP(P, R, RHO * 2, 0.9)),
    ("FiniteMDP rho negative", "rho", lambda: FiniteMDP(P, R, _with(RHO, 0, -0.5), 0.9)),
    ("FiniteMDP gamma 1", "gamma", lambda: FiniteMDP(P, R, RHO, 1.0)),
    ("FiniteMDP gamma nan", "gamma", lambda: FiniteMDP(P, R, RHO, math.nan)),
    ("FiniteMDP gamma string", "gamma", lambda: FiniteMDP(P, R, RHO, "0.9")),
    ("FiniteMDP A = 0", "P", lambda: FiniteMDP(np.zeros((S, 0, S)), np.zeros((S, 0)), RHO, 0.9)),
    # StopSupervisor
    ("StopSupervisor beta > 1", "beta", lambda: StopSupervisor(np.full((S, A), 1.5))),
    ("StopSupervisor beta nan", "beta", lambda: StopSupervisor(_with(SUP.beta, (0, 1), np.nan))),
    ("StopSupervisor beta 1-D", "beta", lambda: StopSupervisor(np.full(S, 0.1))),
    ("StopSupervisor semantics", "semantics", lambda: StopSupervisor(SUP.beta, "explode")),
    ("StopSupervisor shape vs MDP", "beta", lambda: solve_rift(MDP, StopSupervisor(np.full((S + 1, A), 0.1)), PI0, 0.1)),
    # solve_rift and the dense solvers
    ("solve_rift pi0 nan", "pi0", lambda: solve_rift(MDP, SUP, NAN_PI, 0.1)),
    ("solve_rift pi0 unnormalised", "pi0", lambda: solve_rift(MDP, SUP, UNNORMALISED, 0.1)),
    ("solve_rift pi0 shape", "pi0", lambda: solve_rift(MDP, SUP, PI0[:3], 0.1)),
    ("solve_rift alpha negative", "alpha", lambda: solve_rift(MDP, SUP, PI0, -1.0)),
    ("solve_rift alpha nan", "alpha", lambda: solve_rift(MDP, SUP, PI0, math.nan)),
    ("solve_rift alpha zero", "alpha", lambda: solve_rift(MDP, SUP, PI0, 0.0)),
    ("solve_rift tol negative", "tol", lambda: solve_rift(MDP, SUP, PI0, 0.1, tol=-1.0)),
    ("solve_rift tol nan", "tol", lambda: solve_rift(MDP, SUP, PI0, 0.1, tol=math.nan)),
    ("solve_rift method", "method", lambda: solve_rift(MDP, SUP, PI0, 0.1, method="newton")),
    ("solve_rift max_iterations 0", "max_iterations", lambda: solve_rift(MDP, SUP, PI0, 0.1, max_iterations=0)),
    ("soft_value_iteration x nan", "x", lambda: soft_value_iteration(MDP, SUP, _with(X, (0, 0), np.nan), PI0, 0.1)),
    ("soft_value_iteration x shape", "x", lambda: soft_value_iteration(MDP, SUP, X[:, :1], PI0, 0.1)),
    ("soft_value_iteration V0 shape", "V0", lambda: soft_value_iteration(MDP, SUP, X, PI0, 0.1, V0=np.zeros(S + 1))),
    ("soft_value_iteration x huge", "bound", lambda: soft_value_iteration(MDP, SUP, np.full((S, A), 1e308), PI0, 0.1)),
    # evaluation
    ("evaluate_policy pi nan", "pi", lambda: evaluate_policy(MDP, SUP, NAN_PI, PI0)),
    ("evaluate_policy pi shape", "pi", lambda: evaluate_policy(MDP, SUP, PI0.T, PI0)),
    ("evaluate_policy pi0 unnormalised", "pi0", lambda: evaluate_policy(MDP, SUP, PI0, UNNORMALISED)),
    ("kl_per_state pi nan", "pi", lambda: kl_per_state(NAN_PI, PI0)),
    ("kl_per_state shapes", "pi", lambda: kl_per_state(PI0, PI0[:3])),
    ("policy_value x nan", "x", lambda: policy_value(MDP, SUP, PI0, _with(X, (0, 0), np.nan))),
    ("policy_value x shape", "x", lambda: policy_value(MDP, SUP, PI0, X[:3])),
    # batched
    ("stack empty", "instances", lambda: stack([])),
    ("stack alpha", "alpha", lambda: stack([_replace_alpha(random_instance(np.random.default_rng(0)), -1.0)])),
    ("solve_rift_batched tol", "tol", lambda: solve_rift_batched(stack([random_instance(np.random.default_rng(0))]), tol=-1.0)),
    ("solve_rift_batched max_iterations", "max_iterations",
     lambda: solve_rift_batched(stack([random_instance(np.random.default_rng(0))]), max_iterations=0)),
    # sparse
    ("SparseSoftBellman x shape", "x", lambda: SparseSoftBellman(SPARSE, SUP, X[:, :1], PI0, 0.1)),
    ("SparseSoftBellman pi_ref shape", "pi_ref", lambda: SparseSoftBellman(SPARSE, SUP, X, PI0[:3], 0.1)),
    ("SparseSoftBellman alpha", "alpha", lambda: SparseSoftBellman(SPARSE, SUP, X, PI0, -0.1)),
    ("SparseSoftBellman layout", "layout", lambda: SparseSoftBellman(SPARSE, SUP, X, PI0, 0.1, layout="coo")),
    ("SparseSoftBellman V shape", "V", lambda: SparseSoftBellman(SPARSE, SUP, X, PI0, 0.1).apply(np.zeros(S + 1))),
    ("SparseSoftBellman V nan", "V",
     lambda: SparseSoftBellman(SPARSE, SUP, X, PI0, 0.1).apply(_with(np.zeros(S), 1, np.nan))),
    ("soft_value_iteration_sparse x huge", "error bound",
     lambda: soft_value_iteration_sparse(SPARSE, SUP, np.full((S, A), 1e308), PI0, 0.1)),
    ("soft_value_iteration_sparse tol", "tol", lambda: soft_value_iteration_sparse(SPARSE, SUP, X, PI0, 0.1, tol=0.0)),
    ("policy_iteration_sparse krylov_rtol", "krylov_rtol",
     lambda: policy_iteration_sparse(SPARSE, SUP, X, PI0, 0.1, krylov_rtol=-1.0)),
    # linear
    ("linear_rift features shape", "features", lambda: linear_rift(MDP, SUP, PI0, np.zeros((S, A)), 0.1)),
    ("linear_rift features nan", "features",
     lambda: linear_rift(MDP, SUP, PI0, _with(one_hot_features(S, A), (0, 0, 0), np.nan), 0.1)),
    ("linear_rift weight_floor", "weight_floor",
     lambda: linear_rift(MDP, SUP, PI0, one_hot_features(S, A), 0.1, weight_floor=-1.0)),
    ("linear_rift alpha", "alpha", lambda: linear_rift(MDP, SUP, PI0, one_hot_features(S, A), 0.0)),
    ("linear_rift iterations", "iterations", lambda: linear_rift(MDP, SUP, PI0, one_hot_features(S, A), 0.1, iterations=0)),
    # sampling and learning
    ("rollout policy nan", "policy", lambda: rollout(MDP, SUP, NAN_PI, 5, 5)),
    ("rollout n_episodes 0", "n_episodes", lambda: rollout(MDP, SUP, PI0, 0, 5)),
    ("rollout horizon negative", "horizon", lambda: rollout(MDP, SUP, PI0, 5, -1)),
    ("rollout supervisor type", "supervisor", lambda: rollout(MDP, SUP.beta, PI0, 5, 5)),
    ("fitted_soft_q_iteration pessimism", "pessimism",
     lambda: fitted_soft_q_iteration(DATA, PI0, 0.1, 0.9, pessimism="hope")),
    ("fitted_soft_q_iteration delta", "delta", lambda: fitted_soft_q_iteration(DATA, PI0, 0.1, 0.9, delta=1.5)),
    ("fitted_soft_q_iteration alpha", "alpha", lambda: fitted_soft_q_iteration(DATA, PI0, -0.1, 0.9)),
    ("fitted_soft_q_iteration gamma", "gamma", lambda: fitted_soft_q_iteration(DATA, PI0, 0.1, 1.0)),
    ("fitted_soft_q_iteration data type", "data", lambda: fitted_soft_q_iteration({"state": [0]}, PI0, 0.1, 0.9)),
    ("empirical_model gamma", "gamma", lambda: empirical_model(DATA, math.nan)),
    # supervisors and bounds
    ("supervisors.noisy fp", "fp", lambda: supervisors.noisy(SUP, fp=-0.1, fn=0.1)),
    ("supervisors.noisy fn", "fn", lambda: supervisors.noisy(SUP, fp=0.1, fn=1.5)),
    ("supervisors.safety danger index", "danger", lambda: supervisors.safety(MDP, [S + 3])),
    ("supervisors.random_stops p", "p", lambda: supervisors.random_stops(MDP, 1.5)),
    ("bounds.regret_bound gamma", "gamma", lambda: bounds.regret_bound(1.0, 0.1, 1.0)),
    ("bounds.regret_bound D", "D", lambda: bounds.regret_bound(0.9, -0.1, 1.0)),
    # provenance
    ("write_results NaN", "payload", lambda: write_results("/tmp/rift_audit_never_written.json", {"x": math.nan})),
]


def _replace_alpha(inst, alpha):
    from dataclasses import replace

    return replace(inst, alpha=alpha)


def _classify(call, name):
    try:
        call()
    except (ValueError, TypeError, FloatingPointError) as e:
        frames = [f for f in traceback.extract_tb(e.__traceback__)
                  if "site-packages" not in f.filename and "/numpy/" not in f.filename and "/scipy/" not in f.filename]
        inner = frames[-1].filename if frames else ""
        ours = "rift_core" in inner
        return ("clear" if ours and name in str(e) else "unclear"), f"{type(e).__name__}: {e}"
    except Exception as e:  # noqa: BLE001 - anything else (LinAlgError, IndexError, ...) is unclear
        return "unclear", f"{type(e).__name__}: {e}"
    return "silent", "returned"


def test_every_bad_input_fails_closed_with_a_clear_error(capsys):
    results = [(label, *_classify(call, name)) for label, name, call in CASES]
    tally = {k: sum(r[1] == k for r in results) for k in ("clear", "unclear", "silent")}
    with capsys.disabled():
        print(f"\nbad-input audit: {len(CASES)} kinds tried; " + ", ".join(f"{k} {v}" for k, v in tally.items()))
    bad = [f"{label}: {kind} ({msg[:160]})" for label, kind, msg in results if kind != "clear"]
    assert not bad, "\n".join(bad)
