"""The PointNav experiment command: run specs validate, runs resume from checkpoints, sweeps skip finished runs."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from rift_core.experiments import point_nav

STORED = Path(__file__).resolve().parents[1] / "notebooks" / "results" / "point_nav"


@pytest.fixture
def root(tmp_path):
    shutil.copytree(STORED / "priors", tmp_path / "priors")
    return tmp_path


@pytest.mark.parametrize("field, value, message", [
    ("method", "dagger", "method is 'dagger'"), ("supervisor", "psychic", "supervisor is 'psychic'"),
    ("prior", "perfect", "prior is 'perfect'"), ("steps", 0, "steps and eval_episodes must be positive"),
])
def test_run_spec_names_the_bad_field(field, value, message):
    kwargs = dict(method="rift", supervisor="safety", prior="good", seed=0)
    kwargs[field] = value
    with pytest.raises(ValueError, match=message):
        point_nav.RunSpec(**kwargs)


def test_stored_priors_load():
    prior = point_nav.load_prior(STORED, "good")
    assert prior(torch.zeros(1, 7))[0].shape == (1, 2)


def test_run_writes_results_with_provenance_and_resumes(root):
    spec = point_nav.RunSpec("rift", "safety", "good", seed=0, steps=300, eval_episodes=2)
    result = point_nav.run(spec, root, checkpoint_every=100)
    saved = json.loads((root / "runs" / f"{spec.name}.json").read_text())
    assert saved["spec"]["steps"] == 300 and "git_commit" in saved["provenance"]
    assert not (root / "checkpoints" / f"{spec.name}.pt").exists()  # removed once the run is finished
    assert point_nav.run(spec, root) == saved == json.loads(json.dumps(result))  # a finished run is not rerun


def test_an_interrupted_run_continues_from_its_checkpoint(root):
    from rift_core.neural import TrainConfig, Trainer

    spec = point_nav.RunSpec("avoid", "noisy", "mediocre", seed=1, steps=600, eval_episodes=1)
    # simulate an interruption after 300 steps (episodes last at most 200): a checkpoint, no result yet
    cfg = TrainConfig(method="avoid", alpha=spec.alpha, total_steps=600, learning_starts=300, seed=1)
    t = Trainer(point_nav.make_env("noisy"), point_nav.load_prior(root, "mediocre"), cfg)
    t.train(steps=300)
    assert t.episodes
    (root / "checkpoints").mkdir()
    t.save(root / "checkpoints" / f"{spec.name}.pt")
    result = point_nav.run(spec, root, checkpoint_every=100)
    assert result["episodes"][: len(t.episodes)] == t.episodes  # the first 300 steps were not redone
    assert all(e["step"] <= 600 for e in result["episodes"]) and result["episodes"][-1]["step"] > 300


def test_sweep_skips_finished_runs(root, capsys):
    kw = dict(seeds=1, steps=60, methods=("prior",), supervisors=("safety",), priors=("good",))
    point_nav.sweep(root, **kw)
    point_nav.sweep(root, **kw)
    assert "1 of 1 runs finished; running 0" in capsys.readouterr().out


def test_behaviour_cloning_fits_the_demonstrator(root):
    import gymnasium as gym

    from rift_core.estop import EStop
    from rift_core.neural import TrainConfig, Trainer

    env = EStop(gym.make("rift/PointNav-v0"), point_nav._never())
    expert = Trainer(env, point_nav.load_prior(root, "good"), TrainConfig(method="prior"))
    bc, n = point_nav.behaviour_cloning(env, expert, demos=2, noise=0.05, seed=0, epochs=300)
    obs, _ = env.reset(seed=10_000)
    with torch.no_grad():
        mu, _ = bc(torch.as_tensor(obs)[None])
    assert n > 10 and np.linalg.norm(np.tanh(mu[0].numpy()) - expert.act(obs, deterministic=True)) < 0.5
