"""Training throughput (environment steps per second) of the RIFT trainer against Stable-Baselines3 SAC.

Same environment (PointNav with the safety e-stop), same network widths, one
update per environment step, batch 256, one torch thread, measured in one run
on the same machine. Each learner trains for ``--steps`` steps after
``--warmup`` steps that are not timed (both start updating at the same step).
"""

import argparse
import time

import gymnasium as gym
import torch

import rift_core.gym_envs  # noqa: F401
from rift_core.estop import EStop, point_nav_safety
from rift_core.neural import GaussianPolicy, TrainConfig, Trainer


def rift_rate(hidden, steps, warmup):
    env = EStop(gym.make("rift/PointNav-v0"), point_nav_safety(0.1))
    trainer = Trainer(env, GaussianPolicy(7, 2, hidden), TrainConfig(method="rift", hidden=hidden, learning_starts=warmup,
                                                                     total_steps=warmup + steps, batch_size=256))
    trainer.train(steps=warmup + 300)  # includes the first updates (allocation, warm caches)
    t = time.perf_counter()
    trainer.train(steps=steps)
    return steps / (time.perf_counter() - t)


def sb3_rate(hidden, steps, warmup):
    from stable_baselines3 import SAC

    env = EStop(gym.make("rift/PointNav-v0"), point_nav_safety(0.1))
    model = SAC("MlpPolicy", env, learning_starts=warmup, batch_size=256, train_freq=1, gradient_steps=1,
                policy_kwargs={"net_arch": list(hidden)}, device="cpu", verbose=0, seed=0)
    model.learn(total_timesteps=warmup + 300)
    t = time.perf_counter()
    model.learn(total_timesteps=steps, reset_num_timesteps=False)
    return steps / (time.perf_counter() - t)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=500)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    for hidden in ((64, 64), (256, 256)):
        ours = rift_rate(hidden, args.steps, args.warmup)
        theirs = sb3_rate(hidden, args.steps, args.warmup)
        print(f"hidden {hidden}: RIFT trainer {ours:6.0f} steps/s | SB3 SAC {theirs:6.0f} steps/s | ratio {ours / theirs:.2f}")


if __name__ == "__main__":
    main()
