r"""Neural RIFT on PointNav: priors, single runs, and the resumable sweep behind the neural chapter.

Commands (each writes atomically, with provenance, under ``--root``, default
``notebooks/results/point_nav``):

- ``python -m rift_core.experiments.point_nav priors`` trains the priors, SAC on
  the task reward (no supervisor) stopped at two budgets: ``mediocre`` after
  2,000 steps and ``good`` after 4,000 (on this task SAC's return peaks near
  4,000 steps and then drifts down, so longer is not better).
- ``python -m rift_core.experiments.point_nav bc`` behaviour-clones ``bc`` from 5
  demonstrations of ``good`` with Gaussian action noise 0.3 (a third prior,
  not in the stored grid).
- ``python -m rift_core.experiments.point_nav run --method rift --supervisor safety --prior good --seed 0``
- ``python -m rift_core.experiments.point_nav sweep --jobs 2`` runs every
  (method, supervisor, prior, seed) not yet finished; an interrupted sweep loses
  only the runs in progress, which restart from their last checkpoint.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

METHODS = ("prior", "rift", "avoid", "finetune", "filter", "oracle")
SUPERVISORS = ("safety", "noisy")
PRIORS = ("good", "mediocre")  # the stored grid
ALL_PRIORS = PRIORS + ("bc",)


@dataclass(frozen=True)
class RunSpec:
    """One run of the grid. ``steps``: environment steps of training; ``eval_episodes``: evaluation
    episodes of the final policy; ``alpha``: RIFT's KL weight (entropy temperature for avoid/oracle)."""

    method: str
    supervisor: str
    prior: str
    seed: int
    steps: int = 6_000
    eval_episodes: int = 30
    alpha: float = 0.05

    def __post_init__(self):
        for name, allowed in (("method", METHODS), ("supervisor", SUPERVISORS), ("prior", ALL_PRIORS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} is {getattr(self, name)!r}, expected one of {allowed}")
        if self.steps < 1 or self.eval_episodes < 1:
            raise ValueError(f"steps and eval_episodes must be positive, got {self.steps}, {self.eval_episodes}")

    @property
    def name(self) -> str:
        return f"{self.method}-{self.supervisor}-{self.prior}-s{self.seed}"


def make_supervisor(name: str):
    from ..estop import Noisy, point_nav_safety

    if name == "safety":
        return point_nav_safety(0.1)
    return Noisy(point_nav_safety(0.1), fp=0.005, fn=0.3)


def make_env(supervisor: str):
    import gymnasium as gym

    from .. import gym_envs  # noqa: F401
    from ..estop import EStop

    return EStop(gym.make("rift/PointNav-v0"), make_supervisor(supervisor))


def _never():
    from ..estop import SafetySupervisor

    return SafetySupervisor(lambda obs, info: 1.0, 0.0, "never")


def train_priors(root: Path, steps_good: int = 4_000, steps_mediocre: int = 2_000, seed: int = 0) -> None:
    """Train and save the priors: SAC on the task reward, with no supervisor, stopped at two budgets."""
    import gymnasium as gym
    import torch

    from .. import gym_envs  # noqa: F401
    from ..estop import EStop
    from ..neural import TrainConfig, Trainer
    from ..provenance import provenance, write_results

    torch.set_num_threads(1)
    out = root / "priors"
    out.mkdir(parents=True, exist_ok=True)
    env = EStop(gym.make("rift/PointNav-v0"), _never())
    trainer = Trainer(env, None, TrainConfig(method="oracle", alpha=0.05, total_steps=steps_good, seed=seed))
    trainer.train(steps=steps_mediocre, progress=True)
    torch.save(trainer.actor.state_dict(), out / "mediocre.pt")
    trainer.train(progress=True)
    torch.save(trainer.actor.state_dict(), out / "good.pt")
    write_results(out / "priors.json", {"priors": {"good": "good.pt", "mediocre": "mediocre.pt"},
                                        "provenance": provenance({"steps_good": steps_good, "steps_mediocre": steps_mediocre,
                                                                  "seed": seed, "method": "SAC on the task reward"})})


def train_bc_prior(root: Path, demos: int = 5, noise: float = 0.3, seed: int = 0) -> None:
    """Behaviour-clone ``bc`` from noisy demonstrations of the stored ``good`` prior's mean action."""
    import gymnasium as gym
    import torch

    from .. import gym_envs  # noqa: F401
    from ..estop import EStop
    from ..neural import TrainConfig, Trainer
    from ..provenance import provenance, write_results

    torch.set_num_threads(1)
    env = EStop(gym.make("rift/PointNav-v0"), _never())
    expert = Trainer(env, load_prior(root, "good"), TrainConfig(method="prior"))
    bc, n = behaviour_cloning(env, expert, demos=demos, noise=noise, seed=seed)
    torch.save(bc.state_dict(), root / "priors" / "bc.pt")
    write_results(root / "priors" / "bc.json", {"prior": "bc.pt", "transitions": n,
                                                "provenance": provenance({"demos": demos, "noise": noise, "seed": seed,
                                                                          "expert": "good.pt"})})


def behaviour_cloning(env, expert, demos: int, noise: float, seed: int, epochs: int = 2000):
    """Fit a :class:`~rift_core.neural.GaussianPolicy` by maximum likelihood to the pre-tanh actions of
    ``demos`` episodes of ``expert``'s mean action plus Gaussian noise of scale ``noise``."""
    import torch

    from ..neural import GaussianPolicy, gaussian_log_prob

    rng = np.random.default_rng(seed)
    obs_list, act_list = [], []
    for ep in range(demos):
        obs, _ = env.reset(seed=10_000 + ep)
        while True:
            a = np.clip(expert.act(obs, deterministic=True) + noise * rng.normal(size=2), -0.999, 0.999)
            obs_list.append(obs)
            act_list.append(a)
            obs, _, term, trunc, _ = env.step(a)
            if term or trunc:
                break
    X = torch.as_tensor(np.array(obs_list), dtype=torch.float32)
    U = torch.atanh(torch.as_tensor(np.array(act_list), dtype=torch.float32))
    torch.manual_seed(seed)
    bc = GaussianPolicy(X.shape[1], U.shape[1])
    opt = torch.optim.Adam(bc.parameters(), lr=1e-3)
    for _ in range(epochs):
        mu, log_std = bc(X)
        loss = -gaussian_log_prob(U, mu, log_std).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return bc, len(X)


def load_prior(root: Path, name: str):
    import torch

    from ..neural import GaussianPolicy

    prior = GaussianPolicy(7, 2)
    prior.load_state_dict(torch.load(root / "priors" / f"{name}.pt", weights_only=True))
    return prior


def evaluate(trainer, supervisor: str, episodes: int, seed: int) -> dict:
    """Mean task return and stops per episode of the trainer's (stochastic) policy under the supervisor."""
    env = make_env(supervisor)
    returns, stops = [], []
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed * 100_000 + ep)
        total, n_stops = 0.0, 0
        while True:
            obs, _, term, trunc, info = env.step(trainer.act(obs))
            total += info["task_reward"]
            n_stops += int(info["stopped"])
            if term or trunc:
                break
        returns.append(total)
        stops.append(n_stops)
    return {"task_return": float(np.mean(returns)), "stops": float(np.mean(stops)),
            "task_returns": returns, "stop_counts": stops}


def run(spec: RunSpec, root: Path, checkpoint_every: int = 2_000, progress: bool = False) -> dict:
    """Train one run (resuming from its checkpoint if there is one), evaluate, write ``runs/NAME.json``."""
    import torch

    from ..neural import TrainConfig, Trainer
    from ..provenance import provenance, write_results

    torch.set_num_threads(1)
    out = root / "runs" / f"{spec.name}.json"
    if out.exists():
        return json.loads(out.read_text())
    ckpt = root / "checkpoints" / f"{spec.name}.pt"
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    prior = load_prior(root, spec.prior)
    cfg = TrainConfig(method=spec.method, alpha=spec.alpha, total_steps=spec.steps,
                      learning_starts=min(1_000, spec.steps // 2), seed=spec.seed)
    trainer = Trainer(make_env(spec.supervisor), prior, cfg)
    if ckpt.exists():
        trainer.load(ckpt)
    while trainer.step < spec.steps:
        trainer.train(steps=min(checkpoint_every, spec.steps - trainer.step), progress=progress)
        trainer.save(ckpt)
    import time

    t = time.perf_counter()
    result = {"spec": asdict(spec), "episodes": trainer.episodes, "updates": trainer.updates,
              "eval": evaluate(trainer, spec.supervisor, spec.eval_episodes, spec.seed),
              "provenance": provenance(asdict(spec), [sys.executable, "-m", "rift_core.experiments.point_nav", "run",
                                                      "--method", spec.method, "--supervisor", spec.supervisor,
                                                      "--prior", spec.prior, "--seed", str(spec.seed)])}
    result["eval_seconds"] = time.perf_counter() - t
    write_results(out, result)
    ckpt.unlink(missing_ok=True)
    return result


def _run_worker(args):
    spec, root = args
    return run(spec, Path(root)).get("eval")


def sweep(root: Path, seeds: int = 3, steps: int = 6_000, jobs: int = 1, methods=METHODS,
          supervisors=SUPERVISORS, priors=PRIORS) -> list[RunSpec]:
    """Run every unfinished (method, supervisor, prior, seed); finished runs are skipped."""
    specs = [RunSpec(m, s, p, seed, steps) for m, s, p, seed in itertools.product(methods, supervisors, priors, range(seeds))]
    todo = [s for s in specs if not (root / "runs" / f"{s.name}.json").exists()]
    print(f"{len(specs) - len(todo)} of {len(specs)} runs finished; running {len(todo)} with {jobs} job(s)")
    if jobs > 1:
        from multiprocessing import get_context

        with get_context("spawn").Pool(jobs) as pool:
            for i, _ in enumerate(pool.imap_unordered(_run_worker, [(s, str(root)) for s in todo]), 1):
                print(f"  {i}/{len(todo)} done", flush=True)
    else:
        for i, s in enumerate(todo, 1):
            run(s, root)
            print(f"  {i}/{len(todo)} done: {s.name}", flush=True)
    return specs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default="notebooks/results/point_nav")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("priors")
    p.add_argument("--steps", type=int, default=4_000)
    sub.add_parser("bc")
    r = sub.add_parser("run")
    r.add_argument("--method", required=True)
    r.add_argument("--supervisor", required=True)
    r.add_argument("--prior", required=True)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--steps", type=int, default=6_000)
    s = sub.add_parser("sweep")
    s.add_argument("--seeds", type=int, default=3)
    s.add_argument("--steps", type=int, default=6_000)
    s.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args(argv)
    root = Path(args.root)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.command == "priors":
        train_priors(root, steps_good=args.steps)
    elif args.command == "bc":
        train_bc_prior(root)
    elif args.command == "run":
        res = run(RunSpec(args.method, args.supervisor, args.prior, args.seed, args.steps), root, progress=True)
        print(json.dumps(res["eval"], indent=1)[:400])
    else:
        sweep(root, seeds=args.seeds, steps=args.steps, jobs=args.jobs)


if __name__ == "__main__":
    main()
