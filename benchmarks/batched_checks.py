"""(c) Small random MDPs solved and checked per second: batched (stacked arrays) against one at a time.

"Checked" = RIFT solved to its guarantee, the optimum and the prior evaluated
exactly, and Theorem 2's certificate asserted, for each of N random instances
(S <= 20, A <= 4, the family of the verification chapters).
"""

import argparse
import time

import numpy as np

from rift_core import evaluate_policy, solve_rift
from rift_core.exact.instances import random_instance
from rift_core.exact.batched import evaluate_batched, solve_rift_batched, stack


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=2000)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    instances = [random_instance(rng, max_states=20, max_actions=4) for _ in range(args.instances)]
    eps = np.array([1e-8 / (1 - i.mdp.gamma) for i in instances])

    t = time.perf_counter()
    batch = stack(instances)
    sol = solve_rift_batched(batch)
    ev, ev0 = evaluate_batched(batch, sol.policy), evaluate_batched(batch, batch.pi0)
    gain = ev.stop_value - ev0.stop_value
    assert np.all(batch.alpha * ev.kl_cost <= gain + eps) and np.all(gain <= ev0.p_stop + eps)
    batched = time.perf_counter() - t

    t = time.perf_counter()
    worst = 0.0
    for b, inst in enumerate(instances):
        s = solve_rift(inst.mdp, inst.supervisor, inst.pi0, inst.alpha)
        e, e0 = evaluate_policy(inst.mdp, inst.supervisor, s.policy, inst.pi0), evaluate_policy(inst.mdp, inst.supervisor, inst.pi0, inst.pi0)
        g = e.stop_value - e0.stop_value
        assert inst.alpha * e.kl_cost <= g + eps[b] and g <= e0.p_stop + eps[b]
        worst = max(worst, abs(e.stop_value - ev.stop_value[b]), abs(e.kl_cost - ev.kl_cost[b]))
    single = time.perf_counter() - t
    assert worst < 1e-8, worst
    n = args.instances
    print(f"{n} instances: batched {n / batched:,.0f} MDPs/s, one at a time {n / single:,.0f} MDPs/s "
          f"-> ratio {single / batched:.1f}x (largest disagreement {worst:.1e})")


if __name__ == "__main__":
    main()
