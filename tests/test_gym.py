"""Gymnasium pieces: the PointNav environment, the EStop wrapper and the environment supervisors."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import rift_core.neural.gym_envs  # noqa: F401  (registers rift/PointNav-v0)
from rift_core.neural.estop import (Delayed, EStop, Noisy, RandomSupervisor, SafetySupervisor, half_cheetah_safety,
                                    hopper_safety, point_nav_safety)
from rift_core.neural.gym_envs import PointNavEnv, PointNavVectorEnv

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_point_nav_passes_the_env_checker():
    check_env(gym.make("rift/PointNav-v0").unwrapped)


@pytest.mark.parametrize("semantics", ["terminate", "truncate"])
def test_estop_wrapper_passes_the_env_checker(semantics):
    check_env(EStop(gym.make("rift/PointNav-v0"), point_nav_safety(0.05), semantics=semantics))


class Always(SafetySupervisor):
    def __init__(self):
        super().__init__(lambda obs, info: -1.0, 0.0, "always")


class Never(SafetySupervisor):
    def __init__(self):
        super().__init__(lambda obs, info: 1.0, 0.0, "never")


def test_a_stop_ends_the_episode_with_learner_reward_minus_one():
    env = EStop(PointNavEnv(), Always())
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(np.array([1.0, 1.0]))
    assert (reward, terminated, truncated) == (-1.0, True, False)
    assert info["stopped"] and info["task_reward"] == 0.0 and "always" in info["stop_reason"]


def test_no_stop_passes_the_task_reward_in_info_only():
    plain, wrapped = PointNavEnv(), EStop(PointNavEnv(), Never())
    plain.reset(seed=3)
    wrapped.reset(seed=3)
    a = np.array([1.0, 1.0])
    _, task_r, _, _, _ = plain.step(a)
    _, reward, terminated, truncated, info = wrapped.step(a)
    assert reward == 0.0 and not info["stopped"] and info["task_reward"] == pytest.approx(task_r)
    assert task_r > 0  # moving towards the goal is progress


def test_time_limit_is_a_truncation_not_a_termination():
    env = EStop(PointNavEnv(max_steps=5), Never())
    env.reset(seed=0)
    for _ in range(5):
        _, _, terminated, truncated, _ = env.step(np.zeros(2))
    assert truncated and not terminated


def test_truncate_semantics_undoes_the_halted_step():
    env = EStop(PointNavEnv(), Always(), semantics="truncate")
    obs0, _ = env.reset(seed=1)
    obs, reward, terminated, _, info = env.step(np.array([1.0, 0.0]))
    assert reward == -1.0 and not terminated and info["stopped"]
    np.testing.assert_array_equal(obs, obs0)
    np.testing.assert_allclose(env.unwrapped.get_state()[0][0], obs0[:2], atol=1e-6)


def test_standing_still_is_never_stopped_on_point_nav():
    sup = Noisy(point_nav_safety(0.05), fp=0.5, fn=0.0)
    env = EStop(PointNavEnv(), sup)
    env.reset(seed=0)
    for _ in range(100):
        _, reward, terminated, truncated, info = env.step(np.zeros(2))
        assert not info["stopped"]
        if truncated:
            break


def test_obstacle_approach_is_stopped_before_contact():
    env = EStop(PointNavEnv(start=(-0.216, -0.95), start_noise=0.0), point_nav_safety(0.1))
    env.reset(seed=0)
    stopped = False
    for _ in range(40):  # head straight up into obstacle 0, centred at (-0.216, -0.584)
        _, _, terminated, _, info = env.step(np.array([0.0, 1.0]))
        if terminated:
            stopped = info["stopped"]
            assert not info.get("collided", False)
            break
    assert stopped


def test_delayed_supervisor_stops_k_steps_late():
    class StopOnce(SafetySupervisor):
        def __init__(self):
            super().__init__(lambda o, i: 1.0, 0.0, "once")
            self.n = 0

        def __call__(self, *args):
            self.n += 1
            self.reason = "once"
            return self.n == 2

    for k in (0, 1, 3):
        env = EStop(PointNavEnv(), Delayed(StopOnce(), k))
        env.reset(seed=0)
        for t in range(10):
            *_, terminated, _, info = env.step(np.zeros(2))
            if terminated:
                break
        assert info["stopped"] and t == 1 + k


def test_random_supervisor_rate():
    sup = RandomSupervisor(0.2)
    sup.reset(np.random.default_rng(0))
    hits = sum(sup(None, np.ones(2), None, {}) for _ in range(20_000))
    assert abs(hits / 20_000 - 0.2) < 5 * np.sqrt(0.2 * 0.8 / 20_000)
    assert not sup(None, np.zeros(2), None, {})


def test_vector_env_matches_single_env_dynamics():
    vec, single = PointNavVectorEnv(3), PointNavEnv()
    obs, _ = vec.reset(seed=0)
    single.reset(seed=0)
    single.set_state((vec._pos[:1].copy(), 0))
    a = np.array([[0.3, 0.9], [1.0, 0.0], [-0.5, 0.5]])
    vobs, vr, _, _, _ = vec.step(a)
    sobs, sr, _, _, _ = single.step(a[0])
    np.testing.assert_allclose(vobs[0], sobs, rtol=1e-6)
    assert vr[0] == pytest.approx(sr)


@pytest.mark.parametrize("env_id, safety, action_dim", [("Hopper-v5", hopper_safety(0.1), 3),
                                                        ("HalfCheetah-v5", half_cheetah_safety(1.0, 0.1), 6)])
def test_mujoco_safety_supervisors_on_short_rollouts(env_id, safety, action_dim):
    env = EStop(gym.make(env_id), safety)
    # standing still (zero torque) is never stopped in the first steps
    env.reset(seed=0)
    for _ in range(30):
        _, _, terminated, _, info = env.step(np.zeros(action_dim))
        assert not info["stopped"]
    # large random torques are stopped before the environment's own termination, or not at all
    stops = 0
    for ep in range(5):
        env.reset(seed=ep)
        for _ in range(200):
            _, _, terminated, truncated, info = env.step(3 * env.action_space.sample())
            if terminated or truncated:
                stops += info["stopped"]
                assert info["stopped"] or not terminated or env_id != "Hopper-v5"
                break
    if env_id == "Hopper-v5":
        assert stops == 5


def test_value_gap_supervisor_stops_actions_far_from_the_expert():
    from rift_core.neural.estop import ValueGapSupervisor

    best = np.array([0.5, -0.2])
    sup = ValueGapSupervisor(lambda o, a: -float(np.sum((np.asarray(a) - best) ** 2)), lambda o: best, delta=0.1)
    obs = np.zeros(2)
    assert not sup(obs, best + 0.1, None, {})            # gap 0.02
    assert sup(obs, best + 0.5, None, {}) and "value gap" in sup.reason  # gap 0.5
    with pytest.raises(ValueError, match="delta is -1"):
        ValueGapSupervisor(lambda o, a: 0.0, lambda o: best, delta=-1)


def test_value_gap_from_a_trained_expert_runs():
    import torch

    from rift_core.neural import TrainConfig, Trainer, value_gap_from_trainer

    torch.manual_seed(0)
    cfg = TrainConfig(method="oracle", total_steps=200, learning_starts=50, batch_size=32)
    expert = Trainer(EStop(PointNavEnv(), Never()), None, cfg).learn()
    sup = value_gap_from_trainer(expert, delta=0.05)
    env = EStop(PointNavEnv(), sup)
    obs, _ = env.reset(seed=0)
    best = expert.predict(obs, deterministic=True)[0]
    assert not sup(obs, best, None, {})  # the expert's own action has zero gap
    env.step(np.zeros(2))


# ---- failing closed
@pytest.mark.parametrize("where", ["obs", "action", "next_obs"])
def test_estop_fails_closed_on_non_finite_inputs(where):
    from rift_core.neural.estop import NeverStop

    class Corrupt(gym.Wrapper):
        def step(self, action):
            obs, r, term, trunc, info = self.env.step(action)
            return (np.full_like(obs, np.nan) if where == "next_obs" else obs), r, term, trunc, info

        def reset(self, **kw):
            obs, info = self.env.reset(**kw)
            return (np.full_like(obs, np.inf) if where == "obs" else obs), info

    env = EStop(Corrupt(PointNavEnv()), NeverStop())
    env.reset(seed=0)
    action = np.array([np.nan, 0.0]) if where == "action" else np.zeros(2)
    _, reward, terminated, _, info = env.step(action)
    assert info["stopped"] and reward == -1.0 and terminated
    assert info["stop_reason"].startswith("fail-closed: non-finite")


def test_safety_supervisor_fails_closed_on_a_non_finite_clearance():
    sup = SafetySupervisor(lambda obs, info: float("nan"), 0.1, "broken sensor")
    assert sup(None, np.zeros(2), np.zeros(7), {}) and "non-finite clearance" in sup.reason
    from rift_core.neural.estop import ValueGapSupervisor

    gap = ValueGapSupervisor(lambda o, a: float("nan"), lambda o: np.zeros(2), delta=0.1)
    assert gap(np.zeros(2), np.ones(2), None, {}) and "non-finite value gap" in gap.reason


def test_a_plain_function_is_a_supervisor():
    env = EStop(PointNavEnv(), lambda obs, action, next_obs, info: bool(action[0] > 0.5))
    env.reset(seed=0)
    assert not env.step(np.zeros(2))[4]["stopped"]
    info = env.step(np.array([1.0, 0.0]))[4]
    assert info["stopped"] and info["stop_reason"] == "<lambda>"


def test_expert_value_gaps_are_zero_for_the_expert_mean_and_validated():
    from rift_core.neural import GaussianPolicy, TwinCritic, expert_value_gaps

    torch_ = pytest.importorskip("torch")
    torch_.manual_seed(0)
    actor, critic = GaussianPolicy(7, 2), TwinCritic(7, 2)

    class Mean:
        def predict(self, obs, deterministic=False):
            return actor.predict(obs, deterministic=True)

    env = EStop(PointNavEnv(), Never())
    gaps = expert_value_gaps(env, actor, critic, episodes=2, seed=3, policy=Mean())
    # the expert's own mean action has no gap (up to float32 rounding: batched against one-row products)
    assert gaps.ndim == 1 and len(gaps) > 2 and np.abs(gaps).max() < 1e-5
    sampled = expert_value_gaps(env, actor, critic, episodes=2, seed=3)
    assert np.isfinite(sampled).all() and np.any(sampled != 0.0)
    with pytest.raises(ValueError, match="episodes is 0"):
        expert_value_gaps(env, actor, critic, episodes=0)


def test_the_certificate_trace_by_hand():
    """Two episodes (length 2 stopped, length 3 not), gamma 0.5, an update at step 5 with KL 0.1, alpha 0.1 and a
    prior with p_stop 0.5: D = 0.1 * mean(1.5, 1.75) = 0.1625; p_stop_hat = mean(0.5^1, 0) = 0.25, so the middle
    term is (0.5 - 0.25) / 0.1 = 2.5; the bound 0.5 / 0.1 = 5. An update before any finished episode is skipped."""
    from rift_core.neural import certificate_trace, discounted_stop_probability

    episodes = [{"step": 2, "length": 2, "stops": 1}, {"step": 5, "length": 3, "stops": 0}]
    assert discounted_stop_probability([2, 3], [1, 0], 0.5) == 0.25
    trace = certificate_trace(episodes, [{"step": 1, "kl": 0.0}, {"step": 5, "kl": 0.1}], 0.5, 0.1, 0.5)
    np.testing.assert_array_equal(trace.steps, [5])
    np.testing.assert_allclose(trace.kl_cost, [0.1625])
    np.testing.assert_allclose(trace.middle, [2.5])
    assert trace.bound == pytest.approx(5.0)
    assert certificate_trace(episodes, [{"step": 5, "kl": 0.1}], 0.5, 0.1, 0.5, window=1).middle[0] == 5.0  # last only
    with pytest.raises(ValueError, match="alpha"):
        certificate_trace(episodes, [], 0.5, 0.0, 0.5)
    with pytest.raises(ValueError, match="p_stop_prior"):
        certificate_trace(episodes, [], 0.5, 0.1, float("nan"))
    with pytest.raises(ValueError, match=r"episode 1: length 0"):
        discounted_stop_probability([2, 0], [1, 0], 0.5)
    with pytest.raises(ValueError, match="lengths"):
        discounted_stop_probability([], [], 0.5)
    with pytest.raises(ValueError, match=r"updates\[1\]\['kl'\] is nan"):
        certificate_trace(episodes, [{"step": 2, "kl": 0.1}, {"step": 5, "kl": float("nan")}], 0.5, 0.1, 0.5)


def test_record_prior_names_an_unknown_task(tmp_path):
    from rift_core.experiments import record_prior

    with pytest.raises(ValueError, match="task is 'mars'"):
        record_prior("mars", "good", tmp_path)
