"""The experiment layer: registries, typed specs, the generated command line, locked resumable runs, sweeps."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rift_core.neural.estop import SafetySupervisor
from rift_core.experiments import (TASKS, RunLockedError, RunSpec, grid, load_runs, make_env, register_supervisor,
                                   register_task, run, sweep)
from rift_core.experiments.cli import main as cli
from rift_core.neural import GaussianPolicy, TrainConfig, save_policy

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
FAST = TrainConfig(method="rift", total_steps=300, learning_starts=100, batch_size=32, log_every=100)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def root(tmp_path):
    import torch

    torch.manual_seed(0)
    save_policy(GaussianPolicy(7, 2), tmp_path / "priors" / "point_nav" / "good.pt")
    return tmp_path


def test_builtin_tasks_are_registered_and_make_rescaled_estop_envs():
    assert {"point_nav", "hopper", "half_cheetah", "inverted_pendulum"} <= set(TASKS)
    env = make_env("inverted_pendulum", "safety")
    assert (env.action_space.low == -1).all() and (env.action_space.high == 1).all()
    env.reset(seed=0)
    assert env.step(np.zeros(1))[4]["stopped"] is False


def test_a_user_registers_a_task_and_a_supervisor_in_a_few_lines():
    @register_supervisor("test_cart_position", overwrite=True)
    def cart(limit: float = 0.5):
        return SafetySupervisor(lambda obs, info: limit - abs(obs[0]), 0.0, "cart")

    register_task("test_pendulum", "InvertedPendulum-v5", supervisors={"cart": ("test_cart_position", {"limit": 0.2})},
                  overwrite=True)
    env = make_env("test_pendulum", "cart")
    assert env.supervisor.margin == 0.0
    with pytest.raises(ValueError, match="already registered"):
        register_task("test_pendulum", "InvertedPendulum-v5")
    with pytest.raises(ValueError, match="bad parameters"):
        make_env("test_pendulum", "cart", {"speed": 1})


def test_run_spec_validates_and_names_the_field():
    with pytest.raises(ValueError, match="task is 'mars'") as e:
        RunSpec(task="mars")
    assert e.value.field == "task"
    with pytest.raises(ValueError, match="'psychic'"):
        RunSpec(supervisor="psychic")
    with pytest.raises(ValueError, match="eval_episodes is 0"):
        RunSpec(eval_episodes=0)
    assert RunSpec(eval_episodes=np.int64(3)).eval_episodes == 3


def test_spec_round_trips_and_every_field_changes_the_name():
    spec = RunSpec(config=FAST)
    assert RunSpec.from_dict(spec.to_dict()) == spec
    from dataclasses import replace

    assert replace(spec, config=replace(FAST, total_steps=301)).name != spec.name


@pytest.mark.parametrize("argv, message", [
    (["run", "--tau", "2"], "argument --tau: tau is 2.0"),
    (["run", "--buffer-size", "8"], "argument --buffer-size: buffer_size is 8, smaller than batch_size"),
    (["run", "--method", "dagger"], "argument --method: invalid choice"),
    (["run", "--seed", "-1"], "argument --seed: seed is -1"),
    (["run", "--alpha", "x"], "argument --alpha: invalid float value"),
    (["run", "--supervisor-kwargs", "[1]"], "argument --supervisor-kwargs: expected a JSON object"),
    (["run", "--task", "mars"], "argument --task: task is 'mars'"),
    (["sweep", "--seeds", "0"], "--seeds and --jobs must be positive"),
])
def test_bad_flags_are_argparse_errors_naming_the_flag(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        cli(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_every_field_is_a_flag_with_help_and_default(capsys):
    with pytest.raises(SystemExit):
        cli(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    from dataclasses import fields

    for f in [*fields(RunSpec), *fields(TrainConfig)]:
        if f.name != "config":
            assert "--" + f.name.replace("_", "-") in text, f.name
    assert "(default: 0.005)" in text and "{cpu,cuda,auto}" in text


def test_run_stores_a_result_recognised_only_by_its_full_spec(root):
    spec = RunSpec(config=FAST, eval_episodes=2)
    first = run(spec, root)
    out = root / "runs" / f"{spec.name}.json"
    assert first["provenance"]["command"].startswith("python -m rift_core.experiments run ")
    assert "--total-steps 300" in first["provenance"]["command"]
    assert not (root / "checkpoints" / f"{spec.name}.pt").exists()
    # the stored final policy is the one evaluated: the same evaluation, episode for episode
    from rift_core.experiments.runs import EVAL_SEED
    from rift_core.neural import evaluate, load_policy

    policy = load_policy(out.with_suffix(".pt"))
    again = evaluate(policy, make_env("point_nav", "safety"), 2, seed=EVAL_SEED, unsupervised=True).as_dict()
    assert again == first["eval"]
    assert run(spec, root) == json.loads(out.read_text())  # finished: not run again
    from dataclasses import replace

    longer = replace(spec, config=replace(FAST, total_steps=400))
    assert run(longer, root)["episodes"][-1]["step"] <= 400 and len(load_runs(root)) == 2  # a new run, not the old one
    out.write_text(out.read_text()[:200])  # truncated: not finished, made again (with a warning naming the file)
    with pytest.warns(UserWarning, match=f"{out.name}: unreadable result"):
        again = run(spec, root)
    assert again["episodes"] == first["episodes"]


def test_a_locked_run_is_refused(root):
    from rift_core.experiments.runs import _Lock

    spec = RunSpec(config=FAST, eval_episodes=1)
    with _Lock(root / "runs" / f"{spec.name}.lock"):
        with pytest.raises(RunLockedError, match="held by another process"):
            run(spec, root)


def _cli(root, *args, **kw):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1", "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "rift_core.experiments", *args, "--root", str(root)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)


def test_a_run_killed_with_sigkill_resumes_bit_identical(root, tmp_path):
    args = ["run", "--total-steps", "1500", "--learning-starts", "100", "--batch-size", "32", "--eval-episodes", "2",
            "--checkpoint-every", "200", "--no-progress-bar"]
    other = tmp_path / "whole"
    (other / "priors").mkdir(parents=True)
    import shutil

    shutil.copytree(root / "priors", other / "priors", dirs_exist_ok=True)
    assert _cli(other, *args).wait(timeout=300) == 0
    proc = _cli(root, *args)
    deadline = time.time() + 240
    while not list((root / "checkpoints").glob("*.pt")) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list((root / "checkpoints").glob("*.pt")) and not list((root / "runs").glob("*.json"))
    assert _cli(root, *args).wait(timeout=300) == 0
    (a,), (b,) = [list((r / "runs").glob("*.json")) for r in (root, other)]
    ra, rb = json.loads(a.read_text()), json.loads(b.read_text())
    assert ra["resumed_at_step"] > 0 and rb["resumed_at_step"] == 0
    for key in ("episodes", "updates", "eval"):
        assert ra[key] == rb[key], key


def test_sweep_workers_end_when_the_sweep_is_killed(root):
    import psutil

    proc = _cli(root, "sweep", "--methods", "rift", "--seeds", "2", "--jobs", "2", "--total-steps", "100000",
                "--learning-starts", "100", "--batch-size", "32")
    deadline = time.time() + 120
    children = []
    while len(children) < 2 and time.time() < deadline:
        time.sleep(0.2)
        children = [c for c in psutil.Process(proc.pid).children(recursive=True) if "resource_tracker" not in " ".join(c.cmdline())]
    assert len(children) >= 2
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive


def test_grid_sweep_and_load_runs(root):
    base = RunSpec(config=FAST, eval_episodes=1)
    specs = grid(base, methods=("prior", "rift", "avoid"), supervisors=("safety", "noisy"), seeds=(0, 1))
    assert len(specs) == 12 and {s.prior for s in specs if s.config.method == "avoid"} == {"none"}
    sweep(specs[:3], root)
    df = load_runs(root)
    assert len(df) == 3 and {"task_return", "stops_per_1000_steps", "method", "seed", "git_commit"} <= set(df.columns)
    # a stored run compressed by gzip -n is the same run: loaded alike, and a sweep does not make it again
    import gzip

    path = root / "runs" / f"{specs[0].name}.json"
    path.with_name(path.name + ".gz").write_bytes(gzip.compress(path.read_bytes(), mtime=0))
    path.unlink()
    again = load_runs(root)
    assert list(again.name) == list(df.name) and again.drop(columns="episodes").equals(df.drop(columns="episodes"))
    assert list(again.episodes) == list(df.episodes)
    assert sweep(specs[:3], root) is not None and not path.exists()
    gz = path.with_name(path.name + ".gz")
    gz.write_bytes(gz.read_bytes()[:40])  # a damaged archive: skipped with a warning naming it, never a crash
    with pytest.warns(UserWarning, match=f"{gz.name}: unreadable result skipped"):
        assert len(load_runs(root)) == 2


def test_critic_optimism_command_smoke(capsys):
    from rift_core.experiments import critic_optimism

    prior = REPO / "notebooks" / "results" / "neural" / "priors" / "point_nav" / "good.pt"
    rows = critic_optimism.main(["--prior", str(prior), "--methods", "rift", "--seeds", "1", "--steps", "200",
                                 "--states", "2", "--rollouts", "2", "--horizon", "20"])
    assert len(rows) == 1 and rows[0]["states"] == 2 and '"method": "rift"' in capsys.readouterr().out


def test_grid_sweep_and_save_policy_refuse_bad_input(root, tmp_path):
    with pytest.raises(ValueError, match=r"methods has \['dagger'\]") as e:
        grid(RunSpec(config=FAST), methods=("rift", "dagger"))
    assert e.value.field == "methods"
    with pytest.raises(ValueError, match="jobs is 0"):
        sweep([], root, jobs=0)
    with pytest.raises(TypeError, match="policy is a str"):
        save_policy("not a policy", tmp_path / "p.pt")


def test_prior_from_sb3_source_trains_snapshots_with_a_progress_bar(tmp_path, capsys):
    """The sb3 source through the command line (its progress bar needs no ``rich``): snapshots and provenance."""
    cli(["prior", "--root", str(tmp_path), "--task", "inverted_pendulum", "--source", "sb3", "--steps", "150",
         "--learning-starts", "100", "--snapshots", '{"early": 120}', "--eval-episodes", "1"])
    for name in ("good", "early"):
        record = json.loads((tmp_path / "priors" / "inverted_pendulum" / f"{name}.json").read_text())
        assert record["spec"]["source"] == "sb3" and {"never", "safety"} <= set(record["under"])
        assert (tmp_path / "priors" / "inverted_pendulum" / f"{name}.pt").exists()


def test_sac_prior_saves_its_expert_and_the_value_gap_alias_judges_with_it(tmp_path, capsys):
    """``prior --source sac`` stores the actor with its critic; the task's value_gap alias loads that expert from
    the results root; ``record`` evaluates a stored prior again under the task's current supervisors."""
    import torch

    from rift_core.neural import load_expert, load_policy

    with pytest.raises(FileNotFoundError, match=r"no expert file .*priors/hopper/sac.expert.pt"):
        make_env("hopper", "value_gap", root=tmp_path)
    cli(["prior", "--root", str(tmp_path), "--task", "hopper", "--source", "sac", "--name", "sac", "--steps", "300",
         "--learning-starts", "100", "--eval-episodes", "1", "--no-progress-bar"])
    where = tmp_path / "priors" / "hopper"
    actor, critic = load_expert(where / "sac.expert.pt")
    obs = torch.zeros(3, 11)
    assert torch.equal(actor(obs)[0], load_policy(where / "sac.pt")(obs)[0])
    assert critic(obs, torch.zeros(3, 3)).shape == (2, 3)
    with pytest.raises(ValueError, match="not a rift_core expert file"):
        load_expert(where / "sac.pt")
    env = make_env("hopper", "value_gap", root=tmp_path)
    sup = env.supervisor
    o, _ = env.reset(seed=0)
    best = actor.predict(o, deterministic=True)[0]
    assert not sup(o, best, None, {})                              # the expert's own action: gap 0
    assert not sup(o, np.zeros(3), None, {})                       # standing still is never stopped
    assert sup(o, np.array([np.nan, 0, 0]), None, {}) and "non-finite action" in sup.reason

    record = json.loads((where / "sac.json").read_text())
    assert set(record["under"]) == {"never", "safety", "noisy", "value_gap"}
    record["under"] = {"never": record["under"]["never"]}
    (where / "sac.json").write_text(json.dumps(record))
    cli(["record", "--root", str(tmp_path), "--task", "hopper", "--names", "sac"])
    again = json.loads((where / "sac.json").read_text())
    assert set(again["under"]) == {"never", "safety", "noisy", "value_gap"}
    assert again["provenance"] == record["provenance"]
    assert "rift_core.experiments record --task hopper" in again["recorded"]["command"]


def test_root_is_the_results_folder_not_a_supervisor_parameter():
    with pytest.raises(ValueError, match="'root' is the results folder"):
        make_env("hopper", "safety", {"root": "/tmp"})
