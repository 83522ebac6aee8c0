r"""Pictures of the book's tasks, with what a policy does in them (needs matplotlib).

- :func:`draw_tabular_task`: the cliff corridor or a gridworld of
  :mod:`~rift_core.exact.tabular_envs`, each state a unit cell, shaded by a
  per-state quantity (typically the discounted occupancy
  :math:`d_\pi(s) = (1-\gamma)\sum_t \gamma^t \Pr(s_t = s)`), with sampled episodes
  drawn over it and their stops marked.
- :func:`draw_point_nav`: the PointNav arena (obstacles, the supervisor's margin,
  start and goal), with position traces drawn over it and their stops marked.

Both draw on a given axes (or a new one) and return it, in the manner of
pandas' and seaborn's plotting functions.
"""

from __future__ import annotations

import re

import numpy as np

from ._validation import check_scalar

__all__ = ["draw_tabular_task", "draw_point_nav", "episode_paths", "WIDE_FIGURE_FONTS"]

#: Matplotlib font sizes (points) for figures 11 to 14 inches wide, which a book's 750-pixel column shrinks to
#: about half: ``plt.rcParams.update(WIDE_FIGURE_FONTS)`` keeps their text at 6 to 7 points on the page.
WIDE_FIGURE_FONTS = {"font.size": 14, "axes.titlesize": 14, "axes.labelsize": 14, "xtick.labelsize": 12,
                     "ytick.labelsize": 12, "legend.fontsize": 11, "figure.titlesize": 15}

STOP_STYLE = {"marker": "x", "color": "crimson", "ms": 8, "mew": 2, "ls": "none"}


def _axes(ax, figsize):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=figsize)
    return ax


def _cell_positions(task) -> tuple[np.ndarray, str]:
    """``(S, 2)`` cell centres ``(x, y)`` from the task's state names, and the layout's kind.

    A corridor names its cells ``0 .. L-1`` then ``goal`` and ``cliff``: cells lie on
    ``y = 0``, the goal after the last cell, the cliff a strip along ``y = -0.75``. A
    gridworld names its cells ``(i,j)``: row ``i`` is drawn at ``y = -i``.
    """
    names = task.state_names
    grid = [re.fullmatch(r"\((\d+),(\d+)\)", n) for n in names]
    if all(grid):
        return np.array([(int(m[2]), -int(m[1])) for m in grid], dtype=float), "grid"
    if names[-2:] == ("goal", "cliff") and all(n.isdigit() for n in names[:-2]):
        L = len(names) - 2
        xy = np.array([(x, 0.0) for x in range(L)] + [(L, 0.0), ((L - 1) / 2, -0.75)])
        return xy, "corridor"
    raise ValueError("task.state_names are neither a corridor's ('0', ..., 'goal', 'cliff') nor a gridworld's '(i,j)'")


def episode_paths(data, max_episodes: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per episode of e-stop data: its state sequence (with the last next state) and the stop flag of each step.

    ``data`` is an :class:`~rift_core.data.sampling.EStopData`; returns a list of
    ``(states, stopped)`` with ``len(states) == len(stopped) + 1``.
    """
    from .data.sampling import check_estop_data

    data = check_estop_data(data)
    if max_episodes is not None and (isinstance(max_episodes, bool) or not isinstance(max_episodes, int)
                                     or max_episodes < 1):
        raise ValueError(f"max_episodes is {max_episodes!r}, expected a positive int or None")
    paths = []
    for e in np.unique(data.episode)[:max_episodes]:
        rows = np.flatnonzero(data.episode == e)
        paths.append((np.r_[data.state[rows], data.next_state[rows[-1]]], data.stopped[rows]))
    return paths


def draw_tabular_task(task, ax=None, *, shade=None, shade_label: str | None = None, vmax: float | None = None,
                      paths=None, cmap: str = "Blues", seed: int = 0, title: str | None = None):
    r"""Draw a corridor or gridworld task, optionally shaded per state, with episodes over it.

    Parameters
    ----------
    task
        A :class:`~rift_core.exact.tabular_envs.TabularTask` from ``cliff_corridor`` or ``gridworld``.
    ax
        Matplotlib axes to draw on; a new figure when ``None``.
    shade
        ``(S,)`` nonnegative values, one per state (for example a discounted occupancy), drawn as the
        cells' colour on ``[0, max(shade)]``; the absorbing danger and goal states keep their own colours.
    shade_label
        Label of the colour bar drawn for ``shade``.
    vmax
        Top of the colour scale (default ``max(shade)``): give panels to be compared the same one.
    paths
        Episodes as returned by :func:`episode_paths`: each a state sequence, drawn through the cell
        centres with a small offset per episode so that overlapping episodes stay apart, and a cross
        at every state where a step was stopped.
    cmap, seed, title
        Colour map of ``shade``; seed of the offsets; axes title.
    """
    import matplotlib.patches as mpatches

    xy, kind = _cell_positions(task)
    S = task.mdp.n_states
    if shade is not None:
        shade = np.asarray(shade, dtype=float)
        if shade.shape != (S,):
            raise ValueError(f"shade has shape {shade.shape}, expected ({S},)")
        if not np.isfinite(shade).all() or (shade < 0).any():
            i = int(np.flatnonzero(~np.isfinite(shade) | (shade < 0))[0])
            raise ValueError(f"shade[{i}] is {shade[i]}, expected a finite nonnegative number")
    checked_paths = []
    for k, (states, stopped) in enumerate(paths or []):
        states, stopped = np.asarray(states), np.asarray(stopped, dtype=bool).reshape(-1)
        if states.ndim != 1 or not np.issubdtype(states.dtype, np.integer):
            raise ValueError(f"paths[{k}]: states must be a 1-d array of state indices, got {states.dtype} {states.shape}")
        bad = (states < 0) | (states >= S)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"paths[{k}]: states[{i}] is {states[i]}, expected a value in [0, {S})")
        if len(stopped) != len(states) - 1:
            raise ValueError(f"paths[{k}]: {len(states)} states need {len(states) - 1} stop flags, got {len(stopped)}")
        checked_paths.append((states, stopped))
    ax = _axes(ax, (7, 2.4) if kind == "corridor" else (5, 4))
    danger = set(int(s) for s in task.danger)
    absorbing = [s for s in range(S) if task.mdp.P[s, :, s].min() == 1.0]
    goals = [s for s in absorbing if s not in danger]
    import matplotlib as mpl

    colours = mpl.colormaps[cmap]
    top = 1.0
    if shade is not None:
        top = check_scalar("vmax", vmax, low=0.0, low_open=True) if vmax is not None else float(shade.max()) or 1.0
    for s in range(S):
        x, y = xy[s]
        strip = kind == "corridor" and s in danger  # the cliff: a thin strip along the whole corridor
        width, height = (len(task.state_names) - 2, 0.5) if strip else (1, 1)
        if s in danger:
            face = "#e7b3b3"
        elif s in goals:
            face = "#b9dfb4"
        else:
            face = colours(0.85 * min(shade[s] / top, 1.0))  # 0.85: the darkest blue hides the paths if shade is not None else "white"
        ax.add_patch(mpatches.Rectangle((x - width / 2, y - height / 2), width, height, facecolor=face,
                                        edgecolor="0.3", lw=1))
        label = task.state_names[s] if kind == "corridor" else ("hazard" if s in danger else "goal" if s in goals else "")
        if kind == "corridor" or label:
            ax.text(x, y + (0 if strip else 0.36), label, ha="center", va="center", fontsize=7, color="0.25")
    if kind == "grid":  # walls: the bounding box's cells that are not states
        present = {tuple(p) for p in xy.astype(int)}
        for i in range(int(-xy[:, 1].max()), int(-xy[:, 1].min()) + 1):
            for j in range(int(xy[:, 0].min()), int(xy[:, 0].max()) + 1):
                if (j, -i) not in present:
                    ax.add_patch(mpatches.Rectangle((j - 0.5, -i - 0.5), 1, 1, facecolor="0.35", edgecolor="0.3"))
    start = int(np.argmax(task.mdp.rho))
    ax.text(xy[start, 0], xy[start, 1] - 0.36, "start", ha="center", va="center", fontsize=7, color="0.25")
    if shade is not None:
        sm = mpl.cm.ScalarMappable(norm=mpl.colors.Normalize(0, top / 0.85), cmap=colours)
        ax.figure.colorbar(sm, ax=ax, label=shade_label, fraction=0.04, pad=0.02)
    rng = np.random.default_rng(seed)
    for k, (states, stopped) in enumerate(checked_paths):
        pts = xy[states].copy()
        if kind == "corridor":  # a fall is drawn below the cell it happened from
            fell = np.flatnonzero(np.isin(states, list(danger)))
            for i in fell[fell > 0]:
                pts[i, 0] = pts[i - 1, 0]
        pts += rng.uniform([-0.25, -0.3], [0.25, 0.15])
        ax.plot(pts[:, 0], pts[:, 1], "-", color=f"C{k % 10}", lw=1.2, alpha=0.8)
        ax.plot(pts[0, 0], pts[0, 1], "o", color=f"C{k % 10}", ms=3)
        hits = np.flatnonzero(stopped)
        ax.plot(pts[hits, 0], pts[hits, 1], **STOP_STYLE, label="stop" if k == 0 and len(hits) else None)
    ax.set_xlim(xy[:, 0].min() - 0.6, xy[:, 0].max() + 0.6)
    ax.set_ylim(xy[:, 1].min() - (0.35 if kind == "corridor" else 0.6), xy[:, 1].max() + 0.6)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def draw_point_nav(env, ax=None, *, traces=(), margin: float | None = None, title: str | None = None):
    r"""Draw the PointNav arena and position traces over it.

    Parameters
    ----------
    env
        A :class:`~rift_core.neural.gym_envs.PointNavEnv` (or a wrapper of one): the ``obstacles``
        (rows ``(x, y, radius)``), ``goal``, ``goal_radius`` and ``start`` of its core are drawn.
    ax
        Matplotlib axes; a new figure when ``None``.
    traces
        Iterable of ``(positions, stopped, label)``: ``positions`` an ``(n, 2)`` array of the robot's
        positions, ``stopped`` ``(n,)`` flags of the steps that were stopped (a cross at each), ``label``
        the legend entry.
    margin
        The safety supervisor's margin: each obstacle gets a dashed ring at that distance from its edge.
    title
        Axes title.
    """
    import matplotlib.patches as mpatches

    base = getattr(env, "unwrapped", env)
    base = getattr(base, "core", base)  # PointNavEnv keeps its geometry in its vectorised core
    ax = _axes(ax, (4.2, 4.2))
    ax.add_patch(mpatches.Rectangle((-1, -1), 2, 2, fill=False, edgecolor="0.3"))
    if margin is not None:
        margin = check_scalar("margin", margin, low=0.0)
    for cx, cy, rad in base.obstacles:
        ax.add_patch(mpatches.Circle((cx, cy), rad, facecolor="0.55", edgecolor="0.3"))
        if margin:
            ax.add_patch(mpatches.Circle((cx, cy), rad + margin, fill=False, ls="--", edgecolor="0.45", lw=0.8))
    ax.add_patch(mpatches.Circle(tuple(base.goal), base.goal_radius, facecolor="#b9dfb4", edgecolor="0.3"))
    ax.text(*base.goal, "goal", ha="center", va="center", fontsize=8)
    ax.plot(*base.start, "s", color="0.2", ms=5)
    ax.annotate("start", base.start, xytext=(6, -10), textcoords="offset points", fontsize=8)
    for k, (positions, stopped, label) in enumerate(traces):
        positions = np.asarray(positions, dtype=float).reshape(-1, 2)
        stopped = np.asarray(stopped, dtype=bool).reshape(-1)
        if len(stopped) != len(positions):
            raise ValueError(f"traces[{k}]: {len(positions)} positions but {len(stopped)} stop flags")
        if not np.isfinite(positions).all():
            i = int(np.flatnonzero(~np.isfinite(positions).all(axis=1))[0])
            raise ValueError(f"traces[{k}]: positions[{i}] is {positions[i]}, expected finite coordinates")
        line, = ax.plot(positions[:, 0], positions[:, 1], "-", lw=1.3, label=label)
        ax.plot(positions[stopped, 0], positions[stopped, 1], **{**STOP_STYLE, "ms": 6, "color": line.get_color()})
    ax.set_xlim(-1.02, 1.02)
    ax.set_ylim(-1.02, 1.02)
    ax.set_aspect("equal")
    ax.set_xlabel("$x$")
    ax.set_ylabel("$y$")
    if title:
        ax.set_title(title, fontsize=10)
    return ax
