"""Execute every notebook of the book (MyST markdown, read with jupytext).

nbmake collects only ``.ipynb`` files; the book's notebooks are stored as MyST
markdown so they diff, so this module does what nbmake does for them: read the
notebook with jupytext and run it with nbclient in its own folder. A cell that
raises (a failed ``assert`` included) fails the test.
"""

from pathlib import Path

import jupytext
import pytest
import yaml
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.md"))


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


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path):
    nb = jupytext.read(path)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", "notebook must declare the python3 kernel"
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
