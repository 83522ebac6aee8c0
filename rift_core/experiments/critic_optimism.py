"""Is the neural critic optimistic off the replay buffer? ``python -m rift_core.experiments.critic_optimism``.

Trains RIFT and fine-tuning (no KL) on PointNav under the safety supervisor
from the stored ``good`` prior (alpha 0.05, 6,000 steps, the neural chapter's
grid), then runs :func:`rift_core.neural.critic_check` (critic against
Monte-Carlo values, on the policy's actions and on the far corner of the
action box) and prints one JSON line per run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["main"]


def main(argv=None) -> list[dict]:
    import torch

    from ..neural.estop import EStop, point_nav_safety
    from ..neural.gym_envs import PointNavEnv
    from ..neural import TrainConfig, Trainer, critic_check, load_policy
    from .registry import make_env

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prior", type=Path, default=Path("notebooks/results/neural/priors/point_nav/good.pt"))
    parser.add_argument("--methods", nargs="+", default=["rift", "finetune"], choices=["rift", "finetune"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--states", type=int, default=100)
    parser.add_argument("--rollouts", type=int, default=16)
    parser.add_argument("--horizon", type=int, default=500)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    prior, rows = load_policy(args.prior), []
    for method in args.methods:
        for seed in range(args.seeds):
            cfg = TrainConfig(method=method, alpha=0.05, total_steps=args.steps, learning_starts=min(1000, args.steps // 2),
                              batch_size=min(256, args.steps // 2), seed=seed)
            trainer = Trainer(make_env("point_nav", "safety"), prior, cfg).learn()
            env = EStop(PointNavEnv(max_steps=100_000), point_nav_safety(0.1))
            check = critic_check(trainer, env, args.states, args.rollouts, args.horizon, seed=seed)
            rows.append({"method": method, "seed": seed, **check.summary()})
            print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in rows[-1].items()}), flush=True)
    return rows


if __name__ == "__main__":
    main()
