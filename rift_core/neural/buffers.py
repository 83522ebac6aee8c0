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
    ``(mu0, log_std0)`` at ``obs`` and ``next_obs``. Storage is float32 torch tensors (sampling is one
    ``index_select`` per field, no numpy-to-torch copy)."""

    def __init__(self, capacity: int, obs_dim: int, act_dim: int, prior_outputs: bool = False):
        self.capacity = int(capacity)
        shapes = {"obs": obs_dim, "act": act_dim, "rew": 0, "next": obs_dim, "term": 0}
        if prior_outputs:
            shapes.update({"mu0": act_dim, "log_std0": act_dim, "next_mu0": act_dim, "next_log_std0": act_dim})
        self.data = {k: torch.zeros((self.capacity, d) if d else (self.capacity,)) for k, d in shapes.items()}
        self.ptr = self.size = 0

    def add(self, **fields: torch.Tensor) -> None:
        """Insert a batch of ``n`` transitions (each field has leading dimension ``n``)."""
        n = len(fields["obs"])
        if self.ptr + n <= self.capacity:  # the common case: a contiguous slice, no index tensor
            for k, v in self.data.items():
                v[self.ptr: self.ptr + n] = torch.as_tensor(fields[k], dtype=torch.float32)
        else:
            idx = (self.ptr + torch.arange(n)) % self.capacity
            for k, v in self.data.items():
                v[idx] = torch.as_tensor(fields[k], dtype=torch.float32)
        self.ptr = (self.ptr + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """``batch_size`` transitions drawn uniformly with replacement, indices from ``rng``."""
        idx = torch.from_numpy(rng.integers(0, self.size, size=batch_size))
        return {k: v.index_select(0, idx) for k, v in self.data.items()}

    def state(self) -> dict:
        return {"data": {k: v[: self.size].clone() for k, v in self.data.items()}, "ptr": self.ptr, "size": self.size}

    def load_state(self, state: dict) -> None:
        for k, v in state["data"].items():
            self.data[k][: len(v)] = v
        self.ptr, self.size = int(state["ptr"]), int(state["size"])
