"""Execute every notebook of the book with ``pytest --nbmake``.

The chapters are stored as MyST markdown so that they diff; nbmake collects
only ``.ipynb`` files. So each chapter is converted to ``.ipynb`` by jupytext
at test time, into a temporary folder that mirrors ``notebooks/`` (its stored
``results/`` linked in, so that the relative paths the chapters read resolve),
and run by nbmake in a pytest of its own. A cell that raises (a failed
``assert`` included) fails the test, and its traceback is shown.
"""

import os
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.md"))
CELL_TIMEOUT_S = 900


def _toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    return {str(Path(f).with_suffix("")) for f in files}


def test_every_notebook_is_in_the_toc():
    assert NOTEBOOKS, "no notebooks found"
    missing = [p.name for p in NOTEBOOKS if str(p.relative_to(ROOT).with_suffix("")) not in _toc_files()]
    assert not missing, f"notebooks missing from _toc.yml: {missing}"


@pytest.fixture(scope="session")
def ipynb_folder(tmp_path_factory):
    """``notebooks/`` as ``.ipynb`` files, with the stored results linked in."""
    folder = tmp_path_factory.mktemp("ipynb") / "notebooks"
    folder.mkdir()
    (folder / "results").symlink_to(ROOT / "notebooks" / "results", target_is_directory=True)
    for path in NOTEBOOKS:
        nb = jupytext.read(path)
        assert nb.metadata.get("kernelspec", {}).get("name") == "python3", f"{path.name}: declare the python3 kernel"
        jupytext.write(nb, folder / f"{path.stem}.ipynb")
    return folder


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path, ipynb_folder):
    ipynb = ipynb_folder / f"{path.stem}.ipynb"
    # the notebook's own pytest, run from its folder so that no conftest or ini file of this repo applies to it
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbmake", f"--nbmake-timeout={CELL_TIMEOUT_S}", "-p", "no:cacheprovider",
         "-q", "--no-header", str(ipynb)],
        cwd=ipynb_folder, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, f"nbmake failed on {path.name}:\n{proc.stdout[-8000:]}\n{proc.stderr[-2000:]}"
