"""The replay buffer of neural RIFT: a ring of transitions, with the frozen prior's outputs stored beside them.

The prior never changes, so its ``(mu0, log sigma0)`` at ``s`` and ``s'`` are
computed once, when a transition is inserted, instead of at every update that
samples it (two forward passes of a network as wide as the actor per update).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["ReplayBuffer"]


class ReplayBuffer:
    """Transitions ``(obs, act, reward, next_obs, terminated)`` and, if ``prior_outputs``, the prior's
    ``(mu0, log_std0)`` at ``obs`` and ``next_obs``. Storage is one float32 torch tensor with a row per
    transition; ``data[field]`` are views of its columns, and sampling is one ``index_select`` of rows
    (no numpy-to-torch copy, no per-field gather)."""

    def __init__(self, capacity: int, obs_dim: int, act_dim: int, prior_outputs: bool = False):
        self.capacity = int(capacity)
        shapes = {"obs": obs_dim, "act": act_dim, "rew": 0, "next": obs_dim, "term": 0}
        if prior_outputs:
            shapes.update({"mu0": act_dim, "log_std0": act_dim, "next_mu0": act_dim, "next_log_std0": act_dim})
        self.storage = torch.zeros((self.capacity, sum(max(d, 1) for d in shapes.values())))
        self._columns, start = {}, 0
        for k, d in shapes.items():
            self._columns[k] = (start, d)
            start += max(d, 1)
        self.data = self._fields(self.storage)
        self.ptr = self.size = 0

    def add(self, **fields: torch.Tensor) -> None:
        """Insert a batch of ``n`` transitions (each field has leading dimension ``n``)."""
        n = len(fields["obs"])
        # the rows assembled once, then one write into the storage
        rows = torch.cat([torch.as_tensor(fields[k], dtype=torch.float32).reshape(n, max(d, 1))
                          for k, (_, d) in self._columns.items()], dim=1)
        if self.ptr + n <= self.capacity:  # the common case: a contiguous slice, no index tensor
            self.storage[self.ptr: self.ptr + n] = rows
        else:
            self.storage[(self.ptr + torch.arange(n)) % self.capacity] = rows
        self.ptr = (self.ptr + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """``batch_size`` transitions drawn uniformly with replacement, indices from ``rng``."""
        idx = torch.from_numpy(rng.integers(0, self.size, size=batch_size))
        return self._fields(self.storage.index_select(0, idx))

    def _fields(self, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        return {k: rows[:, i: i + d] if d else rows[:, i] for k, (i, d) in self._columns.items()}

    def state(self) -> dict:
        return {"data": {k: v[: self.size].clone() for k, v in self.data.items()}, "ptr": self.ptr, "size": self.size}

    def load_state(self, state: dict) -> None:
        for k, v in state["data"].items():
            self.data[k][: len(v)] = v
        self.ptr, self.size = int(state["ptr"]), int(state["size"])
