"""``python -m rift_core.experiments``: the command line, generated from the spec dataclasses.

Every field of :class:`~rift_core.experiments.RunSpec`,
:class:`~rift_core.neural.TrainConfig` and :class:`~rift_core.experiments.PriorSpec`
is a flag (``--kl-budget`` for ``kl_budget``) whose help, choices and default
are the field's. A bad value is an argparse error that names the flag.

Subcommands: ``prior`` (make priors), ``record`` (evaluate stored priors again
under the task's supervisors), ``run`` (one run), ``sweep`` (a grid of runs),
``report`` (a table of finished runs), ``list`` (registered tasks and
supervisors).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import typing
from dataclasses import MISSING, fields, is_dataclass
from pathlib import Path

from ..neural.config import ConfigError, TrainConfig
from .registry import SUPERVISORS, TASKS
from .runs import DEFAULT_ROOT, PriorSpec, RunSpec

__all__ = ["main", "build_parser", "flags_for"]


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not JSON ({e})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def _optional_float(text: str):
    if text.lower() == "none":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or none, got {text!r}") from None


def _add_fields(parser: argparse.ArgumentParser, cls, skip=()) -> None:
    hints = typing.get_type_hints(cls)
    group = parser.add_argument_group(cls.__name__)
    for f in fields(cls):
        if f.name in skip or is_dataclass(hints[f.name]):
            continue
        default = f.default if f.default is not MISSING else f.default_factory()
        kind, meta = hints[f.name], f.metadata
        kwargs = {"default": default, "dest": f.name, "help": f"{meta.get('help', '')} (default: %(default)s)"}
        if kind is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif kind in (int, float, str):
            kwargs["type"] = kind
        elif kind == (float | None):
            kwargs.update(type=_optional_float, metavar="FLOAT|none")
        elif typing.get_origin(kind) is tuple:
            kwargs.update(type=int, nargs="+")
        else:  # mappings
            kwargs.update(type=_json_object, metavar="JSON")
            kwargs["help"] = f"{meta.get('help', '')} (default: {json.dumps(default)})"
        if "choices" in meta:
            kwargs["choices"] = meta["choices"]
        group.add_argument(_flag(f.name), **kwargs)


def _build(parser, cls, args, skip=(), **extra):
    values = {f.name: getattr(args, f.name) for f in fields(cls) if f.name not in skip and hasattr(args, f.name)}
    for k, v in values.items():
        if isinstance(v, list):
            values[k] = tuple(v)
    try:
        return cls(**values, **extra)
    except ConfigError as e:
        parser.error(f"argument {_flag(e.field)}: {e}")
    except (TypeError, ValueError) as e:
        parser.error(str(e))


def flags_for(obj, skip=()) -> list[str]:
    """The flags that rebuild ``obj`` (a RunSpec or PriorSpec) on this command line, non-default values only."""
    out = []
    for f in fields(obj):
        if f.name in skip:
            continue
        value = getattr(obj, f.name)
        if is_dataclass(value):
            out += flags_for(value)
            continue
        default = f.default if f.default is not MISSING else f.default_factory()
        if value == default:
            continue
        if isinstance(value, bool):
            out.append(_flag(f.name) if value else "--no-" + f.name.replace("_", "-"))
        elif isinstance(value, tuple):
            out += [_flag(f.name), *map(str, value)]
        elif isinstance(value, dict):
            out += [_flag(f.name), json.dumps(value, sort_keys=True)]
        else:
            out += [_flag(f.name), str(value)]
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rift_core.experiments", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    def root(p):
        p.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="results folder (default: %(default)s)")

    p = sub.add_parser("prior", help="make a prior (SAC, Stable-Baselines3 SAC, or behaviour cloning)")
    root(p)
    _add_fields(p, PriorSpec)
    p.add_argument("--progress-bar", action=argparse.BooleanOptionalAction, default=True)

    p = sub.add_parser("record", help="evaluate stored priors again under each of the task's supervisors")
    root(p)
    p.add_argument("--task", required=True, choices=sorted(TASKS))
    p.add_argument("--names", nargs="+", required=True, help="prior names under ROOT/priors/TASK/")

    for name, text in (("run", "train, evaluate and store one run"), ("sweep", "run a grid of runs")):
        p = sub.add_parser(name, help=text)
        root(p)
        _add_fields(p, RunSpec)
        _add_fields(p, TrainConfig, skip=("method", "seed") if name == "sweep" else ())
        p.add_argument("--checkpoint-every", type=int, default=2_000, help="steps between checkpoints")
        if name == "run":
            p.add_argument("--progress-bar", action=argparse.BooleanOptionalAction, default=True)
        else:
            from ..neural.config import METHOD_NAMES

            p.add_argument("--methods", nargs="+", default=list(METHOD_NAMES), choices=METHOD_NAMES)
            p.add_argument("--supervisors", nargs="+", default=None, help="supervisor names (default: --supervisor)")
            p.add_argument("--priors", nargs="+", default=None, help="prior names (default: --prior)")
            p.add_argument("--seeds", type=int, default=3, help="seeds 0 .. SEEDS-1")
            p.add_argument("--jobs", type=int, default=1, help="local worker processes")

    p = sub.add_parser("report", help="print a table of the finished runs under --root")
    root(p)
    sub.add_parser("list", help="registered tasks and supervisors")
    return parser


def main(argv=None) -> int:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "list":
        for t in TASKS.values():
            print(f"task {t.name}: {t.env_id} {dict(t.env_kwargs) or ''} supervisors {sorted(t.supervisors)}")
        print(f"supervisors: {', '.join(sorted(SUPERVISORS))}")
        return 0
    if args.command == "report":
        from .runs import load_runs

        df = load_runs(args.root)
        if df.empty:
            print(f"no finished runs under {args.root}")
            return 0
        keys = ["task", "method", "supervisor", "prior"]
        table = df.groupby(keys)[["task_return", "stops_per_1000_steps"]].agg(["mean", "std", "count"])
        print(table.to_string(float_format=lambda v: f"{v:.3f}"))
        return 0
    if args.command == "prior":
        from .runs import train_prior

        records = train_prior(_build(parser, PriorSpec, args), args.root, progress_bar=args.progress_bar)
        for name, rec in records.items():
            print(name, json.dumps({k: round(v["task_return"], 3) for k, v in rec["under"].items()}))
        return 0
    if args.command == "record":
        from .runs import record_prior

        for name in args.names:
            rec = record_prior(args.task, name, args.root)
            print(name, json.dumps({k: [round(v["task_return"], 3), round(v["stops_per_1000_steps"], 3)]
                                    for k, v in rec["under"].items()}))
        return 0
    if args.checkpoint_every < 1:
        parser.error(f"argument --checkpoint-every: is {args.checkpoint_every}, expected a positive integer")
    if args.command == "run":
        from .runs import run

        cfg = _build(parser, TrainConfig, args)
        spec = _build(parser, RunSpec, args, skip=("config",), config=cfg)
        result = run(spec, args.root, checkpoint_every=args.checkpoint_every, progress_bar=args.progress_bar)
        summary = {k: v for k, v in result["eval"].items() if not isinstance(v, list)}
        print(json.dumps({"name": result["name"], **summary}, indent=1))
        return 0
    from .runs import grid, sweep

    if args.seeds < 1 or args.jobs < 1:
        parser.error(f"arguments --seeds and --jobs must be positive, got {args.seeds} and {args.jobs}")
    cfg = _build(parser, TrainConfig, args, skip=("method", "seed"))
    base = _build(parser, RunSpec, args, skip=("config",), config=cfg)
    try:
        specs = grid(base, methods=args.methods, supervisors=args.supervisors, priors=args.priors,
                     seeds=range(args.seeds))
    except ConfigError as e:
        parser.error(f"argument {_flag(e.field) if e.field != 'supervisor' else '--supervisors'}: {e}")
    sweep(specs, args.root, jobs=args.jobs, checkpoint_every=args.checkpoint_every)
    return 0


if __name__ == "__main__":
    sys.exit(main())
