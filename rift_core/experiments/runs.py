"""Runs of neural RIFT as typed specs: priors, single runs (locked, resumable), sweeps on any executor, loading.

Layout of a results root (default ``rift_results/``)::

    priors/<task>/<name>.pt     the prior alone (rift_core.neural.save_policy), and <name>.json: provenance
                                and its task return and stops under each of the task's supervisors
    priors/<task>/<name>.expert.pt
                                a ``--source sac`` prior with its critic (rift_core.neural.save_expert): the
                                expert of the task's value-gap supervisor
    runs/<run name>.json        a finished run: spec, training episodes, update statistics, evaluation, provenance
                                (or <run name>.json.gz, the same file compressed by gzip -n: the loaders read both)
    runs/<run name>.pt          its final policy (rift_core.neural.save_policy), for the methods that learn one
    checkpoints/<run name>.pt   the last checkpoint of an unfinished run (removed when it finishes)
    logs/<run name>/            progress.csv (and TensorBoard files when tensorboard is installed)

A run's name ends in a digest of its full spec, and a result counts as finished
only if it parses and its spec equals the one asked for: changing any field
(even ``total_steps``) is a new run.
"""

from __future__ import annotations

import copy
import hashlib
import json
import operator
import os
import threading
import time
import warnings
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from ..neural.config import ConfigError, TrainConfig
from ..provenance import read_results
from .registry import TASKS, make_env, resolve_supervisor

__all__ = ["RunSpec", "PriorSpec", "run", "train_prior", "record_prior", "sweep", "grid", "load_runs", "load_prior", "finished_result",
           "RunLockedError", "DEFAULT_ROOT"]

DEFAULT_ROOT = Path("rift_results")
EVAL_SEED = 1_000_000  # evaluation episodes of seed s start at EVAL_SEED + 1000 s, apart from training's


def _help(text, **extra):
    return {"help": text, **extra}


@dataclass(frozen=True)
class RunSpec:
    """One run: a task, a supervisor, a prior, a method's :class:`~rift_core.neural.TrainConfig` and an evaluation."""

    task: str = field(default="point_nav", metadata=_help("a registered task (python -m rift_core.experiments list)"))
    supervisor: str = field(default="safety", metadata=_help(
        "an alias of the task (e.g. safety, noisy) or a registered supervisor"))
    supervisor_kwargs: Mapping = field(default_factory=dict, metadata=_help(
        "JSON object of supervisor parameters, overriding the alias's"))
    env_kwargs: Mapping = field(default_factory=dict, metadata=_help(
        "JSON object of keyword arguments for gymnasium.make, overriding the task's"))
    semantics: str = field(default="terminate", metadata=_help("what a stop does", choices=("terminate", "truncate")))
    prior: str = field(default="good", metadata=_help(
        "a prior stored under ROOT/priors/TASK/NAME.pt, a path to a .pt policy file, sb3:PATH.zip for a "
        "Stable-Baselines3 SAC model, or none (for avoid and oracle)"))
    eval_episodes: int = field(default=30, metadata=_help("evaluation episodes of the final policy"))
    unsupervised_eval: bool = field(default=True, metadata=_help(
        "also evaluate with nobody pressing the button (the unsupervised task return)"))
    config: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self):
        if self.task not in TASKS:
            raise ConfigError("task", f"is {self.task!r}, expected one of {sorted(TASKS)}")
        for name in ("supervisor_kwargs", "env_kwargs"):
            if not isinstance(getattr(self, name), Mapping):
                raise ConfigError(name, f"is {getattr(self, name)!r}, expected a mapping")
            object.__setattr__(self, name, dict(getattr(self, name)))
        try:
            resolve_supervisor(self.task, self.supervisor, self.supervisor_kwargs)
        except ValueError as e:
            raise ConfigError("supervisor", str(e).removeprefix("supervisor ")) from None
        if self.semantics not in ("terminate", "truncate"):
            raise ConfigError("semantics", f"is {self.semantics!r}, expected 'terminate' or 'truncate'")
        if not isinstance(self.prior, str) or not self.prior:
            raise ConfigError("prior", f"is {self.prior!r}, expected a name, a path, sb3:PATH or none")
        try:
            n = None if isinstance(self.eval_episodes, bool) else operator.index(self.eval_episodes)
        except TypeError:
            n = None
        if n is None or n < 1:
            raise ConfigError("eval_episodes", f"is {self.eval_episodes!r}, expected a positive integer")
        object.__setattr__(self, "eval_episodes", n)
        if not isinstance(self.config, TrainConfig):
            raise ConfigError("config", f"is a {type(self.config).__name__}, expected a TrainConfig")

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))  # plain JSON values (tuples become lists)

    @classmethod
    def from_dict(cls, d: Mapping) -> "RunSpec":
        d = dict(d)
        cfg = dict(d.pop("config", {}))
        if "hidden" in cfg:
            cfg["hidden"] = tuple(cfg["hidden"])
        return cls(**d, config=TrainConfig(**cfg))

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:10]

    @property
    def name(self) -> str:
        prior = Path(self.prior.split(":", 1)[-1]).stem
        return f"{self.task}-{self.config.method}-{self.supervisor}-{prior}-s{self.config.seed}-{self.digest}"


@dataclass(frozen=True)
class PriorSpec:
    """How a prior is made: SAC on the task reward with nobody at the button (the project's own trainer, or
    Stable-Baselines3 through :func:`~rift_core.neural.prior_from_sb3`), or behaviour cloning of a stored prior."""

    task: str = field(default="point_nav", metadata=_help("a registered task"))
    name: str = field(default="good", metadata=_help("the prior's name (file ROOT/priors/TASK/NAME.pt)"))
    source: str = field(default="sac", metadata=_help(
        "sac: the project's trainer as the oracle (SAC on the task reward, no supervisor); sb3: Stable-Baselines3 "
        "SAC; bc: behaviour cloning of noisy demonstrations of the stored prior EXPERT",
        choices=("sac", "sb3", "bc")))
    steps: int = field(default=4_000, metadata=_help("environment steps of SAC (sac, sb3)"))
    snapshots: Mapping = field(default_factory=dict, metadata=_help(
        'JSON object {name: steps}: also save the policy after that many steps as another prior (sac, sb3)'))
    hidden: tuple[int, ...] = field(default=(64, 64), metadata=_help("hidden widths of the prior"))
    alpha: float = field(default=0.05, metadata=_help("entropy temperature of SAC (sac)"))
    learning_starts: int = field(default=1_000, metadata=_help("uniform-action steps before SAC's first update"))
    expert: str = field(default="good", metadata=_help("bc: the stored prior whose mean action is demonstrated"))
    demos: int = field(default=5, metadata=_help("bc: demonstration episodes"))
    noise: float = field(default=0.3, metadata=_help("bc: Gaussian noise added to the demonstrated actions"))
    eval_episodes: int = field(default=20, metadata=_help("episodes to record each prior's return and stops"))
    seed: int = field(default=0, metadata=_help("seed of training, demonstrations and evaluation"))

    def __post_init__(self):
        if self.task not in TASKS:
            raise ConfigError("task", f"is {self.task!r}, expected one of {sorted(TASKS)}")
        if self.source not in ("sac", "sb3", "bc"):
            raise ConfigError("source", f"is {self.source!r}, expected 'sac', 'sb3' or 'bc'")
        for name in ("steps", "demos", "eval_episodes"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(name, f"is {v!r}, expected a positive integer")
        if not all(isinstance(v, int) and 0 < v < self.steps for v in dict(self.snapshots).values()):
            raise ConfigError("snapshots", f"is {self.snapshots!r}, expected {{name: steps}} with 0 < steps < {self.steps}")
        object.__setattr__(self, "snapshots", dict(self.snapshots))
        object.__setattr__(self, "hidden", tuple(self.hidden))


class RunLockedError(RuntimeError):
    """Another process holds the run's lock."""


class _Lock:
    """An exclusive, non-blocking ``flock`` on ``path`` (released when the holder exits, even by SIGKILL)."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise RunLockedError(f"{self.path}: the run is held by another process") from None
        return self

    def __exit__(self, *exc):
        os.close(self.fd)


def finished_result(path: Path, spec: RunSpec) -> dict | None:
    """The result at ``path`` if it parses and was made for exactly ``spec``; else ``None`` (with a warning
    naming the file when it exists but cannot be read)."""
    if not path.exists():
        path = path.with_name(path.name + ".gz")  # a stored run may be kept compressed (gzip -n NAME.json)
        if not path.exists():
            return None
    try:
        result = read_results(path)
        same = result["spec"] == spec.to_dict()
    except (ValueError, KeyError, TypeError, OSError, EOFError) as e:  # OSError, EOFError: a damaged .gz
        warnings.warn(f"{path}: unreadable result ({type(e).__name__}: {e}); the run will be made again", stacklevel=2)
        return None
    return result if same else None


def load_prior(spec: RunSpec, root: Path):
    """The prior a run spec names (``None`` for ``none``)."""
    from ..neural import load_policy, prior_from_sb3

    if spec.prior == "none":
        return None
    if spec.prior.startswith("sb3:"):
        from stable_baselines3 import SAC

        return prior_from_sb3(SAC.load(spec.prior[4:], device="cpu"))
    path = Path(spec.prior) if spec.prior.endswith(".pt") else Path(root) / "priors" / spec.task / f"{spec.prior}.pt"
    if not path.exists():
        raise FileNotFoundError(f"prior {spec.prior!r} of task {spec.task!r}: no file {path} "
                                f"(make it with: python -m rift_core.experiments prior --task {spec.task} --name {spec.prior})")
    return load_policy(path)


def _command(sub: str, obj, skip=()) -> list[str]:
    """The ``python -m rift_core.experiments`` command line that reproduces ``obj`` (a spec)."""
    from .cli import flags_for

    return ["python", "-m", "rift_core.experiments", sub, *flags_for(obj, skip)]


def run(spec: RunSpec, root: str | os.PathLike = DEFAULT_ROOT, *, checkpoint_every: int = 2_000,
        progress_bar: bool = False) -> dict:
    """Train, evaluate and store one run; return its result.

    A finished result (same spec, parses) is returned as it is. Otherwise the run
    takes its lock (:class:`RunLockedError` if another process holds it),
    resumes from its checkpoint if there is one (bit-identical to an
    uninterrupted run), checkpoints every ``checkpoint_every`` steps, evaluates
    the final policy on ``eval_episodes`` episodes (and without supervision if
    asked), writes ``runs/NAME.json`` atomically with provenance, and removes
    the checkpoint.
    """
    import torch

    from ..neural import METHODS, Trainer, evaluate, save_policy
    from ..provenance import provenance, write_results

    root = Path(root)
    out = root / "runs" / f"{spec.name}.json"
    done = finished_result(out, spec)
    if done is not None:
        return done
    with _Lock(root / "runs" / f"{spec.name}.lock"):
        done = finished_result(out, spec)
        if done is not None:
            return done
        torch.set_num_threads(1)
        make = lambda: make_env(spec.task, spec.supervisor, spec.supervisor_kwargs, spec.env_kwargs, spec.semantics,  # noqa: E731
                                root)
        prior = load_prior(spec, root)
        ckpt = root / "checkpoints" / f"{spec.name}.pt"
        t0 = time.perf_counter()
        trainer = Trainer.load(ckpt, make(), prior, spec.config) if ckpt.exists() else Trainer(make(), prior, spec.config)
        resumed_at = trainer.step
        trainer.learn(checkpoint=ckpt, checkpoint_every=checkpoint_every, log_dir=root / "logs" / spec.name,
                      progress_bar=progress_bar)
        train_seconds = time.perf_counter() - t0
        evaluation = evaluate(trainer, make(), spec.eval_episodes, seed=EVAL_SEED + 1000 * spec.config.seed,
                              unsupervised=spec.unsupervised_eval)
        result = {"name": spec.name, "spec": spec.to_dict(), "episodes": trainer.episodes, "updates": trainer.updates,
                  "eval": evaluation.as_dict(), "resumed_at_step": resumed_at,
                  "supervisor_resolved": resolve_supervisor(spec.task, spec.supervisor, spec.supervisor_kwargs),
                  "train_seconds_this_process": train_seconds,
                  "provenance": provenance(spec.to_dict(), _command("run", spec))}
        method = METHODS[spec.config.method]
        if method.learns == "actor_critic" and method.acts == "policy":
            save_policy(trainer, out.with_suffix(".pt"), metadata={"run": spec.name})
        write_results(out, result)
        ckpt.unlink(missing_ok=True)
    return result


def _watch_parent(parent: int) -> None:
    """In a sweep's worker: end when the sweep's process does (also after SIGKILL, which runs no clean-up)."""
    try:  # Linux: the kernel sends SIGKILL when the parent dies
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass

    def watch():  # portable fallback: poll the parent's pid
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")


def _run_quietly(spec_dict: dict, root: str, checkpoint_every: int) -> tuple[str, str]:
    spec = RunSpec.from_dict(spec_dict)
    try:
        run(spec, root, checkpoint_every=checkpoint_every)
        return spec.name, "done"
    except RunLockedError as e:
        return spec.name, f"skipped: {e}"


def grid(base: RunSpec, *, methods: Iterable[str] = ("rift",), supervisors: Iterable[str] | None = None,
         priors: Iterable[str] | None = None, seeds: Iterable[int] = (0,)) -> list[RunSpec]:
    """Every (method, supervisor, prior, seed) around ``base``; methods without a prior get ``prior='none'``."""
    from dataclasses import replace

    from ..neural import METHODS

    methods = list(methods)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ConfigError("methods", f"has {unknown}, expected names from {tuple(METHODS)}")
    specs = []
    for m in methods:
        for sup in (supervisors or [base.supervisor]):
            for p in (priors or [base.prior]) if METHODS[m].needs_prior else ["none"]:
                for s in seeds:
                    specs.append(replace(base, supervisor=sup, prior=p, config=replace(base.config, method=m, seed=s)))
    return list({s.name: s for s in specs}.values())


def sweep(specs: Iterable[RunSpec], root: str | os.PathLike = DEFAULT_ROOT, *, jobs: int = 1,
          executor: Executor | None = None, checkpoint_every: int = 2_000) -> list[str]:
    """Run every unfinished spec; return the names of the specs.

    Runs go to ``executor`` (any :class:`concurrent.futures.Executor`), by default
    ``jobs`` local processes whose workers end when the sweep's process does, even
    if it is killed; ``jobs=1`` runs in this process. Beyond one machine, pass a
    Dask executor (``distributed.Client(...).get_executor()``) or Ray's
    (``ray.util.concurrent.futures.RayExecutor``) with ``root`` on a shared file
    system: each run's lock keeps two workers from running it at once.
    """
    if executor is None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ValueError(f"jobs is {jobs!r}, expected a positive integer")
    root = Path(root)
    specs = list(specs)
    todo = [s for s in specs if finished_result(root / "runs" / f"{s.name}.json", s) is None]
    print(f"{len(specs) - len(todo)} of {len(specs)} runs finished; running {len(todo)} with "
          f"{type(executor).__name__ if executor else f'{jobs} job(s)'}", flush=True)
    if executor is None and jobs == 1:
        for i, s in enumerate(todo, 1):
            name, status = _run_quietly(s.to_dict(), str(root), checkpoint_every)
            print(f"  {i}/{len(todo)} {status}: {name}", flush=True)
        return [s.name for s in specs]
    own = executor is None
    if own:
        from multiprocessing import get_context

        executor = ProcessPoolExecutor(jobs, mp_context=get_context("spawn"), initializer=_watch_parent,
                                       initargs=(os.getpid(),))
    try:
        futures = [executor.submit(_run_quietly, s.to_dict(), str(root), checkpoint_every) for s in todo]
        for i, f in enumerate(as_completed(futures), 1):
            name, status = f.result()
            print(f"  {i}/{len(todo)} {status}: {name}", flush=True)
    finally:
        if own:
            executor.shutdown(wait=True, cancel_futures=True)
    return [s.name for s in specs]


def _sb3_bar(total: int, enabled: bool):
    """A tqdm bar for Stable-Baselines3's ``learn`` (its own ``progress_bar=True`` also needs ``rich``)."""
    from stable_baselines3.common.callbacks import BaseCallback
    from ..progress import tqdm

    class Bar(BaseCallback):
        def _on_training_start(self) -> None:
            self.bar = tqdm(total=total, desc="sb3 SAC", unit="step", disable=not enabled)

        def _on_step(self) -> bool:
            self.bar.update(1)
            return True

        def _on_training_end(self) -> None:
            self.bar.close()

    return Bar()


def train_prior(spec: PriorSpec, root: str | os.PathLike = DEFAULT_ROOT, progress_bar: bool = False) -> dict:
    """Make the prior(s) ``spec`` describes, save each under ``ROOT/priors/TASK/`` with its provenance, and record
    each one's task return and stops under every supervisor alias of the task. Returns ``{name: record}``."""
    import torch

    from ..neural import (TrainConfig, Trainer, behaviour_cloning, demonstrations, load_policy, prior_from_sb3,
                          save_expert, save_policy)
    from ..provenance import provenance, write_results

    torch.set_num_threads(1)
    out = Path(root) / "priors" / spec.task
    out.mkdir(parents=True, exist_ok=True)
    policies = {}
    if spec.source == "sac":
        cfg = TrainConfig(method="oracle", alpha=spec.alpha, total_steps=spec.steps, hidden=spec.hidden,
                          learning_starts=spec.learning_starts, seed=spec.seed)
        trainer = Trainer(make_env(spec.task, "never"), None, cfg)
        for name, steps in sorted(spec.snapshots.items(), key=lambda kv: kv[1]):
            trainer.learn(steps=steps - trainer.step, progress_bar=progress_bar)
            policies[name] = copy.deepcopy(trainer.actor)
        trainer.learn(progress_bar=progress_bar)
        policies[spec.name] = trainer.actor
        save_expert(trainer, out / f"{spec.name}.expert.pt", metadata={"task": spec.task, "name": spec.name})
    elif spec.source == "sb3":
        import gymnasium as gym
        from stable_baselines3 import SAC

        task = TASKS[spec.task]
        env = gym.make(task.env_id, **dict(task.env_kwargs))
        env = gym.wrappers.RescaleAction(env, -1.0, 1.0) if task.rescale_actions else env
        model = SAC("MlpPolicy", env, learning_starts=spec.learning_starts, policy_kwargs={"net_arch": list(spec.hidden)},
                    device="cpu", seed=spec.seed, verbose=0)
        done = 0
        for name, steps in sorted(spec.snapshots.items(), key=lambda kv: kv[1]):
            model.learn(steps - done, reset_num_timesteps=done == 0, callback=_sb3_bar(steps - done, progress_bar))
            done = steps
            policies[name] = prior_from_sb3(model)
        model.learn(spec.steps - done, reset_num_timesteps=done == 0, callback=_sb3_bar(spec.steps - done, progress_bar))
        policies[spec.name] = prior_from_sb3(model)
    else:
        expert = load_policy(out / f"{spec.expert}.pt")
        obs, act = demonstrations(make_env(spec.task, "never"), expert, spec.demos, spec.noise, spec.seed)
        policies[spec.name] = behaviour_cloning(obs, act, spec.hidden, seed=spec.seed)
    records = {}
    for name, policy in policies.items():
        record = {"prior": f"{name}.pt", "spec": json.loads(json.dumps(asdict(spec))),
                  "under": _record_under(policy, spec.task, root, spec.eval_episodes, spec.seed)}
        record["provenance"] = provenance(record["spec"], _command("prior", spec))
        save_policy(policy, out / f"{name}.pt", metadata={"task": spec.task, "name": name})
        write_results(out / f"{name}.json", record)
        records[name] = record
    return records


def _record_under(policy, task: str, root, episodes: int, seed: int) -> dict:
    """``{alias: evaluation summary}`` of ``policy`` with nobody at the button and under each of the task's aliases."""
    from ..neural import evaluate

    return {alias: evaluate(policy, make_env(task, alias, root=root), episodes, seed=EVAL_SEED + seed).summary()
            for alias in ["never", *TASKS[task].supervisors]}


def record_prior(task: str, name: str, root: str | os.PathLike = DEFAULT_ROOT) -> dict:
    """Evaluate the stored prior ``ROOT/priors/TASK/NAME.pt`` again under each of the task's supervisors as they
    are registered now (with its spec's episodes and seed), and rewrite its record. The training provenance is
    kept; the new evaluation's is stored under ``recorded``. For a supervisor alias added or changed after the
    prior was made."""
    from ..neural import load_policy
    from ..provenance import provenance, write_results

    if task not in TASKS:
        raise ValueError(f"task is {task!r}, expected one of {sorted(TASKS)}")
    path = Path(root) / "priors" / task / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"no prior record {path}")
    record = json.loads(path.read_text())
    spec = record["spec"]
    record["under"] = _record_under(load_policy(path.with_suffix(".pt")), task, root, spec["eval_episodes"],
                                    spec["seed"])
    record["recorded"] = provenance({"task": task, "name": name},
                                    ["python", "-m", "rift_core.experiments", "record", "--task", task, "--names", name])
    write_results(path, record)
    return record


def load_runs(root: str | os.PathLike = DEFAULT_ROOT):
    """All finished runs under ``root`` as one pandas DataFrame, a row per run: the spec's fields (the config's
    flattened), the evaluation's summary, provenance (commit, dirty tree, date), and the training episodes and
    update statistics as lists."""
    import pandas as pd

    rows = []
    runs = Path(root) / "runs"
    for path in sorted([*runs.glob("*.json"), *runs.glob("*.json.gz")]):
        try:
            r = read_results(path)
            spec = dict(r["spec"])
        except (ValueError, KeyError, OSError, EOFError) as e:
            warnings.warn(f"{path}: unreadable result skipped ({type(e).__name__}: {e})", stacklevel=2)
            continue
        cfg = spec.pop("config")
        ev = {k: v for k, v in r["eval"].items() if not isinstance(v, list)}
        rows.append({"name": r.get("name", path.name.removesuffix(".gz").removesuffix(".json")), **spec, **cfg, **ev,
                     "git_commit": r["provenance"].get("git_commit"), "git_dirty": r["provenance"].get("git_dirty"),
                     "date": r["provenance"].get("date"), "episodes": r["episodes"], "updates": r["updates"],
                     "eval_task_returns": r["eval"]["task_returns"], "eval_stop_counts": r["eval"]["stop_counts"],
                     "eval_lengths": r["eval"].get("lengths")})
    return pd.DataFrame(rows)
