"""(b) Hard-max value iteration (RIFT's alpha -> 0 limit) against QuantEcon's DiscreteDP.

Both solve the same supervised MDP: maximise the task return under supervision
(reward (1 - beta) r, kernel (1 - beta) P, a stop going to an absorbing state
for DiscreteDP, which needs a stochastic kernel). Two comparisons:

1. per-sweep time: one Bellman sweep of each (ours: the fused numba sweep;
   QuantEcon: DiscreteDP.bellman_operator);
2. wall time to equal accuracy: every method is run to sup-norm error <= target
   against a reference solution (our value iteration to its rounding floor),
   and each method's value is asserted to be within the target.
   Ours: value iteration, modified policy iteration and policy iteration with
   Krylov (BiCGSTAB) evaluation, exact (from the value of the uniform reference
   policy, or from ``V0 = 0``) or inexact (``forcing=1e-3``), all with the guaranteed stopping rule. QuantEcon: value iteration and modified policy iteration,
   each at the largest epsilon (from a grid) whose answer meets the target.
   Each method first runs untimed (compilation, page faults; the first run's
   answer is the one checked), then all are timed interleaved: ``--repeats``
   rounds, each running every method once, so a slow spell of the machine hits
   them alike. The ratios are printed for the minima, for the medians, and as the
   median of the rounds' ratios.
"""

import argparse
import time

import numpy as np
import quantecon as qe
import scipy.sparse as sp

from _timing import interleaved
from rift_core import StopSupervisor, tabular_envs
from rift_core.exact.sparse import (SparseSoftBellman, modified_policy_iteration_sparse, policy_iteration_sparse,
                                    soft_value_iteration_sparse)


def discrete_dp(mdp, beta, reward):
    S, A = mdp.n_states, mdp.n_actions
    P = mdp.transition_matrix.tocoo()
    L = S * A
    stay = beta.ravel()
    Q = sp.csr_matrix((np.r_[P.data * (1.0 - stay[P.row]), stay, [1.0]],
                       (np.r_[P.row, np.arange(L), [L]], np.r_[P.col, np.full(L, S), [S]])), shape=(L + 1, S + 1))
    s_ind = np.r_[np.repeat(np.arange(S), A), S]
    a_ind = np.r_[np.tile(np.arange(A), S), 0]
    return qe.markov.DiscreteDP(np.r_[reward.ravel(), 0.0], Q, mdp.gamma, s_ind, a_ind)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--states", type=int, default=100_000)
    parser.add_argument("--target", type=float, default=1e-6, help="sup-norm accuracy every method must reach")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each method (after one untimed run)")
    args = parser.parse_args(argv)
    S, A = args.states, 4
    mdp = tabular_envs.random_sparse_mdp(S, A, 10, gamma=0.99, seed=0)
    beta = np.random.default_rng(1).uniform(0.0, 0.1, size=(S, A))
    sup = StopSupervisor(beta)
    x = sup.task_reward(mdp)
    ones = np.full((S, A), 1.0 / A)
    ddp = discrete_dp(mdp, beta, x)
    print(f"MDP: {S} states x {A} actions, 10 successors, gamma 0.99; target accuracy {args.target:g}")

    # 1. per sweep
    T = SparseSoftBellman(mdp, sup, x, ones, 0.0)
    V = np.random.default_rng(2).random(S)
    V_out, Q = np.empty(S), np.empty((S, A))
    sweeps = interleaved({"ours": lambda: T.apply(V, V_out, Q), "QuantEcon": lambda: ddp.bellman_operator(np.r_[V, 0.0])},
                         max(args.repeats, 9))
    V_qe = ddp.bellman_operator(np.r_[V, 0.0])[:S]
    T.apply(V, V_out, Q)
    assert np.abs(V_qe - V_out).max() < 1e-12, "the two sweeps disagree"
    print(f"per sweep: ours {sweeps['ours'].min() * 1e3:.2f} ms, QuantEcon {sweeps['QuantEcon'].min() * 1e3:.2f} ms "
          f"-> ratio {sweeps['QuantEcon'].min() / sweeps['ours'].min():.1f}x (minima)")

    # 2. to equal accuracy: each method once untimed (compilation; its error checked; QuantEcon's largest epsilon
    # that meets the target found), then all timed interleaved, so a slow spell of the machine hits them alike
    ref = soft_value_iteration_sparse(mdp, sup, x, ones, 0.0, tol=1e-10, validate_policy=False)
    runs, notes = {}, {}
    for name, run in (
        ("ours: value iteration", lambda: soft_value_iteration_sparse(mdp, sup, x, ones, 0.0, tol=args.target, validate_policy=False).V),
        ("ours: modified policy iteration", lambda: modified_policy_iteration_sparse(mdp, sup, x, ones, 0.0, tol=args.target, evaluation_sweeps=50, validate_policy=False).V),
        ("ours: policy iteration (BiCGSTAB)", lambda: policy_iteration_sparse(mdp, sup, x, ones, 0.0, tol=args.target, validate_policy=False).V),
        ("ours: policy iteration from V0 = 0", lambda: policy_iteration_sparse(mdp, sup, x, ones, 0.0, tol=args.target, validate_policy=False, V0=0.0).V),
        ("ours: inexact policy iteration", lambda: policy_iteration_sparse(mdp, sup, x, ones, 0.0, tol=args.target, validate_policy=False, forcing=1e-3).V),
    ):
        err = np.abs(run() - ref.V).max()
        assert err <= args.target, (name, err)
        runs[name], notes[name] = run, f"error {err:.1e}"
    for name, method, extra in (("QuantEcon: value iteration", "value_iteration", {}),
                                ("QuantEcon: modified policy iteration", "modified_policy_iteration", {"k": 50})):
        for eps in (1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7):
            res = ddp.solve(method=method, epsilon=eps, max_iter=1_000_000, **extra)
            err = np.abs(res.v[:S] - ref.V).max()
            if err <= args.target:
                runs[name] = lambda method=method, eps=eps, extra=extra: ddp.solve(
                    method=method, epsilon=eps, max_iter=1_000_000, **extra)
                notes[name] = f"error {err:.1e} (epsilon {eps:g})"
                break
        else:
            print(f"{name:36s} never reached the target")
    times = interleaved(runs, args.repeats)
    for name, t in times.items():
        print(f"{name:36s} {t.min():7.2f} s (median {np.median(t):.2f}), {notes[name]}")
    ours = {n: t for n, t in times.items() if n.startswith("ours")}
    theirs = {n: t for n, t in times.items() if n.startswith("QuantEcon")}
    best_ours = min(ours, key=lambda n: ours[n].min())
    best_theirs = min(theirs, key=lambda n: theirs[n].min())
    vi = times["QuantEcon: value iteration"]
    print(f"our best: {best_ours[6:]}; QuantEcon's best: {best_theirs[11:]}")
    for stat, f in (("minima", np.min), ("medians", np.median)):
        print(f"to equal accuracy ({stat} of {args.repeats}): our best vs QuantEcon value iteration "
              f"{f(vi) / f(ours[best_ours]):.1f}x; our best vs QuantEcon's best {f(theirs[best_theirs]) / f(ours[best_ours]):.1f}x")
    print(f"to equal accuracy (median of the {args.repeats} rounds' ratios): our best vs QuantEcon's best "
          f"{np.median(theirs[best_theirs] / ours[best_ours]):.1f}x")


if __name__ == "__main__":
    main()
