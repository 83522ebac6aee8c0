"""The built wheel holds every subpackage (a wheel without rift_core.neural or rift_core.experiments is broken)."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_wheel_contains_every_subpackage(tmp_path):
    import shutil

    pytest.importorskip("setuptools")
    src = tmp_path / "src"  # build from a copy: setuptools writes build/ and *.egg-info beside the sources
    shutil.copytree(REPO / "rift_core", src / "rift_core", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path),
                    str(src)], check=True, capture_output=True, cwd=tmp_path)
    (wheel,) = tmp_path.glob("rift_core-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = {p.parent.relative_to(REPO).as_posix() for p in (REPO / "rift_core").rglob("__init__.py")}
    assert {"rift_core", "rift_core/exact", "rift_core/data", "rift_core/neural", "rift_core/experiments"} <= packages
    for pkg in packages:
        assert f"{pkg}/__init__.py" in names, pkg
    assert "rift_core/neural/trainer.py" in names and "rift_core/experiments/__main__.py" in names
    # every module imports from the installed wheel alone (not from this checkout)
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    modules = sorted(n[:-3].replace("/", ".").removesuffix(".__init__") for n in names
                     if n.startswith("rift_core/") and n.endswith(".py") and not n.endswith("__main__.py"))
    script = ("import importlib, rift_core; assert rift_core.__file__.startswith(%r), rift_core.__file__\n"
              "for m in %r: importlib.import_module(m)" % (str(site), modules))
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(site)})
