"""Provenance for stored results: what made a file, from which code, where and when.

Every results file the project commits is written by :func:`write_results`,
atomically (a temporary file in the same folder, then ``os.replace``), with a
``provenance`` block: the command line, the config, the git commit (and
whether the tree had uncommitted changes), package versions, date and machine.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

__all__ = ["PACKAGES", "provenance", "atomic_write", "write_results", "read_results", "shown_command"]

PACKAGES = ("numpy", "scipy", "torch", "gymnasium", "rift_core")


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10,
                             cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def provenance(config: dict, command: list[str] | None = None) -> dict:
    """The provenance block for a result produced with ``config``.

    The command is recorded as ``python ...``, without the interpreter's absolute
    path (which says nothing about the result and leaks the machine's layout)."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    status = _git("status", "--porcelain")
    if command is None:
        main_spec = getattr(sys.modules.get("__main__"), "__spec__", None)
        # under ``python -m pkg.mod``, argv[0] is the module's file path: record the -m form instead
        command = ["python", "-m", main_spec.name, *sys.argv[1:]] if main_spec else ["python", *sys.argv]
    return {
        "command": " ".join(command),
        "config": config,
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(status) if status is not None else None,
        "versions": versions,
        "python": platform.python_version(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "processor": platform.machine(), "cpus": os.cpu_count()},
    }


def atomic_write(path: str | os.PathLike, write, binary: bool = False) -> Path:
    """Create ``path`` atomically: ``write(f)`` fills a temporary file in the same folder, which then replaces
    ``path`` (``os.replace``), so a reader never sees a half-written file, even after SIGKILL."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if binary else "w") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _first_nonfinite(value, where: str) -> str | None:
    """The path (``payload['a'][3]``) of the first NaN or infinity in a JSON-like value, or None."""
    if isinstance(value, float):
        return None if math.isfinite(value) else where
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    else:
        return None
    for k, v in items:
        found = _first_nonfinite(v, f"{where}[{k!r}]")
        if found is not None:
            return found
    return None


def write_results(path: str | os.PathLike, payload: dict) -> Path:
    """Write ``payload`` as strict JSON to ``path`` atomically (never a half-written file).

    A NaN or an infinity is refused before anything is written, with its place in ``payload`` named: strict JSON
    has no such numbers, and a stored result that holds one is a silent failure upstream.
    """
    bad = _first_nonfinite(payload, "payload")
    if bad is not None:
        raise ValueError(f"{bad} is not finite; results must be finite numbers (strict JSON)")

    def write(f):
        json.dump(payload, f, indent=1, sort_keys=True, allow_nan=False)
        f.write("\n")

    return atomic_write(path, write)


def read_results(path: str | os.PathLike) -> dict:
    """Load a results file written by :func:`write_results`, or the same file compressed by ``gzip -n``
    (a name ending in ``.gz``: large stored runs are kept so, losslessly)."""
    if str(path).endswith(".gz"):
        import gzip

        with gzip.open(path, "rt") as f:
            return json.load(f)
    with open(path) as f:
        return json.load(f)


def shown_command(command: str) -> str:
    """``command`` with each absolute path shortened to ``…/`` and its last component, for display.

    A stored command records where its maker wrote the file (``--out /tmp/x/robustness.json``); a rendered
    page shows ``--out …/robustness.json``, which says what was written without the maker's directories.
    """
    if not isinstance(command, str):
        raise TypeError(f"command must be a str, got {type(command).__name__}")
    return " ".join(f"…/{Path(word).name}" if word.startswith("/") and len(word) > 1 else word
                    for word in command.split(" "))
