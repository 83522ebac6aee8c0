"""The exact core: tabular and linear RIFT solved exactly.

- :mod:`rift_core.exact.mdp`: :class:`~rift_core.exact.mdp.FiniteMDP`, :class:`~rift_core.exact.mdp.StopSupervisor`
  and the two stop semantics;
- :mod:`rift_core.exact.evaluation`: exact ``J_r``, ``J_I``, ``p_stop``, ``D``, ``d_pi``;
- :mod:`rift_core.exact.rift`: the soft Bellman problem and its one solver loop (the book's ``thm-residual-form``),
  with the dense backend; :mod:`rift_core.exact.sparse` the CSR backend (10^6 states, needs numba) and
  :mod:`rift_core.exact.batched` the stacked one (many small MDPs at once); :mod:`rift_core.exact.krylov` the
  compiled BiCGSTAB of the sparse policy evaluations;
- :mod:`rift_core.exact.planning`: hard-max policy iteration and the optimal task advantage;
- :mod:`rift_core.exact.linear`: linear RIFT;
- :mod:`rift_core.exact.supervisors`: intervention strategies; :mod:`rift_core.exact.baselines`: prior, avoid,
  finetune, filter, oracle; :mod:`rift_core.exact.bounds`: the theorems' bounds;
- :mod:`rift_core.exact.tabular_envs`: random MDPs, the cliff corridor, gridworlds;
  :mod:`rift_core.exact.instances`: the random instance families the theorems are checked on.
"""
