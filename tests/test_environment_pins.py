"""The pip pins and environment.yml name the same packages at the same versions."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pins(lines):
    out = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        name, _, version = line.partition("==")
        assert version, f"{line!r} is not pinned with =="
        out[name.strip().lower().replace("_", "-")] = version.strip()
    return out


def test_requirements_match_environment_yml():
    req = _pins((ROOT / "requirements.txt").read_text().splitlines())
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert _pins(pip_section) == req
    assert "python=3.11" in env["dependencies"]


def test_lock_agrees_with_direct_pins():
    req = _pins((ROOT / "requirements.txt").read_text().splitlines())
    lock = _pins((ROOT / ".ci" / "constraints.txt").read_text().splitlines())
    for name, version in req.items():
        name = name.split("[")[0]  # extras are not part of a lock entry
        if name == "torch":  # pinned in requirements.txt alone (local build tag)
            assert "torch" not in lock
            continue
        assert lock.get(name) == version, name


def test_torch_pinned_to_the_cpu_build_on_disk():
    assert _pins((ROOT / "requirements.txt").read_text().splitlines())["torch"] == "2.13.0"
