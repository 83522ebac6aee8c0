"""Training throughput (environment steps per second) of the RIFT trainer against Stable-Baselines3 SAC.

Side by side in one process on the same machine: the same environment with the
same e-stop supervisor (PointNav with its safety supervisor, Hopper-v5 with its
fall supervisor), the same widths for actor and critics, batch 256, one
gradient update per environment step, one torch thread. RIFT runs in float32
and bfloat16 (``TrainConfig.bf16``), each eager and compiled
(``TrainConfig.compile``). Each learner first
runs ``--warmup`` steps plus 300 updating steps untimed (allocation, caches),
then ``--steps`` timed steps; each configuration is timed ``--repeats`` times
and the min and median rates are printed (these machines are noisy).

    python benchmarks/neural_throughput.py --steps 2000 --repeats 3
"""

import argparse
import time

import numpy as np
import torch

from rift_core.experiments import make_env
from rift_core.neural import GaussianPolicy, TrainConfig, Trainer

ENVS = {"point_nav": lambda: make_env("point_nav", "safety"), "hopper": lambda: make_env("hopper", "safety")}


def rift_rate(env_name, hidden, steps, warmup, bf16=False, compile=False):
    env = ENVS[env_name]()
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    cfg = TrainConfig(method="rift", hidden=hidden, learning_starts=warmup, total_steps=10**9, batch_size=256, bf16=bf16,
                      compile=compile)
    trainer = Trainer(env, GaussianPolicy(obs_dim, act_dim, hidden), cfg)
    trainer.learn(steps=warmup + 300)  # with compile=True, the first update compiles (untimed)
    t = time.perf_counter()
    trainer.learn(steps=steps)
    return steps / (time.perf_counter() - t)


def sb3_rate(env_name, hidden, steps, warmup):
    from stable_baselines3 import SAC

    model = SAC("MlpPolicy", ENVS[env_name](), learning_starts=warmup, batch_size=256, train_freq=1, gradient_steps=1,
                policy_kwargs={"net_arch": list(hidden)}, device="cpu", verbose=0, seed=0)
    model.learn(total_timesteps=warmup + 300)
    t = time.perf_counter()
    model.learn(total_timesteps=steps, reset_num_timesteps=False)
    return steps / (time.perf_counter() - t)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--envs", nargs="+", default=list(ENVS), choices=list(ENVS))
    parser.add_argument("--widths", nargs="+", type=int, default=[64, 256])
    parser.add_argument("--no-bf16", action="store_true", help="skip the bfloat16 configurations (TrainConfig.bf16)")
    parser.add_argument("--no-compile", action="store_true",
                        help="skip the torch.compile configurations (TrainConfig.compile)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch._dynamo.config.recompile_limit = 64  # one compiled update per (task, width, dtype): more than the default 8
    print(f"torch {torch.__version__}, 1 thread, bf16 supported: {torch.backends.mkldnn.is_available()}")
    for env_name in args.envs:
        for width in args.widths:
            hidden = (width, width)
            runs = {"sb3": lambda: sb3_rate(env_name, hidden, args.steps, args.warmup)}
            for bf16 in (False,) if args.no_bf16 else (False, True):
                for compile in (False,) if args.no_compile else (False, True):
                    name = "rift" + "_bf16" * bf16 + "_compile" * compile
                    runs[name] = (lambda bf16=bf16, compile=compile:
                                  rift_rate(env_name, hidden, args.steps, args.warmup, bf16, compile))
            rates = {k: [] for k in runs}
            for _ in range(args.repeats):  # interleaved, so drifts of the machine hit every learner alike
                for k, fn in runs.items():
                    rates[k].append(fn())
            line = f"{env_name:9s} {width:3d}x{width:<3d}"
            for k, r in rates.items():
                line += f" | {k} min {min(r):5.0f} med {np.median(r):5.0f}"
            for k in runs:
                if k != "sb3":
                    line += f" | {k}/sb3 (median) {np.median(rates[k]) / np.median(rates['sb3']):.2f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
