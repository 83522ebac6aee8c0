"""rift_core.plotting: the pictures place each state where its name says, validate their inputs, and mark stops."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from rift_core import supervisors, tabular_envs  # noqa: E402
from rift_core.data.sampling import rollout  # noqa: E402
from rift_core.plotting import _cell_positions, draw_point_nav, draw_tabular_task, episode_paths  # noqa: E402


def test_cell_positions_follow_the_state_names():
    xy, kind = _cell_positions(tabular_envs.cliff_corridor(length=4))
    assert kind == "corridor"
    assert xy.tolist() == [[0, 0], [1, 0], [2, 0], [3, 0], [4, 0], [1.5, -0.75]]  # cells, goal, cliff strip
    grid = tabular_envs.gridworld(("S.", "#G"))
    xy, kind = _cell_positions(grid)
    assert kind == "grid" and xy.tolist() == [[0, 0], [1, 0], [1, -1]]  # (0,0), (0,1), (1,1); the wall is no state


def test_episode_paths_end_with_the_last_next_state():
    task = tabular_envs.cliff_corridor()
    sup = supervisors.safety(task.mdp, task.danger).exempting(task.noop)
    data = rollout(task.mdp, sup, np.tile([0.0, 0.0, 1.0], (task.mdp.n_states, 1)), 3, 10, seed=0)
    paths = episode_paths(data)
    assert len(paths) == 3 and len(episode_paths(data, max_episodes=2)) == 2
    with pytest.raises(ValueError, match="max_episodes is 0"):
        episode_paths(data, max_episodes=0)
    with pytest.raises(TypeError):
        episode_paths({"state": [0]})
    for states, stopped in paths:
        assert len(states) == len(stopped) + 1 and states[0] == 0
        # always the edge, always stopped by the safety officer at once: one stopped step in cell 0
        assert stopped.tolist() == [True] and states.tolist() == [0, 0]


def test_draw_tabular_task_validates_shade_and_marks_stops():
    task = tabular_envs.cliff_corridor()
    S = task.mdp.n_states
    with pytest.raises(ValueError, match=r"shade has shape"):
        draw_tabular_task(task, shade=np.ones(S - 1))
    with pytest.raises(ValueError, match=r"shade\[2\] is nan"):
        draw_tabular_task(task, shade=np.where(np.arange(S) == 2, np.nan, 1.0))
    with pytest.raises(ValueError, match="state_names"):
        draw_tabular_task(tabular_envs.gamble_or_retry()[0])
    ax = draw_tabular_task(task, shade=np.linspace(0, 1, S), paths=[(np.array([0, 0]), np.array([True]))])
    with pytest.raises(ValueError, match=r"paths\[0\]: states\[1\] is 10, expected a value in \[0, 10\)"):
        draw_tabular_task(task, paths=[(np.array([0, 10]), np.array([False]))])
    with pytest.raises(ValueError, match=r"paths\[0\]: 2 states need 1 stop flags, got 2"):
        draw_tabular_task(task, paths=[(np.array([0, 1]), np.array([False, True]))])
    crosses = [line for line in ax.lines if line.get_marker() == "x"]
    assert len(crosses) == 1 and len(crosses[0].get_xdata()) == 1
    plt.close("all")


def test_draw_point_nav_checks_the_traces():
    pytest.importorskip("gymnasium")
    from rift_core.neural.gym_envs import PointNavEnv

    env = PointNavEnv()
    ax = draw_point_nav(env, traces=[(np.zeros((3, 2)), np.array([False, False, True]), "one")], margin=0.1)
    assert [line.get_label() for line in ax.lines if line.get_label() == "one"] == ["one"]
    with pytest.raises(ValueError, match=r"traces\[0\]: 3 positions but 2 stop flags"):
        draw_point_nav(env, traces=[(np.zeros((3, 2)), np.array([False, True]), "bad")])
    with pytest.raises(ValueError, match=r"traces\[0\]: positions\[1\] is \[nan"):
        draw_point_nav(env, traces=[(np.array([[0.0, 0.0], [np.nan, 0.0]]), np.array([False, False]), "nan")])
    with pytest.raises(ValueError, match="margin"):
        draw_point_nav(env, margin=-1.0)
    plt.close("all")
