"""Learning RIFT from e-stop data.

- :mod:`rift_core.data.sampling`: e-stop trajectories from a tabular MDP and a supervisor;
- :mod:`rift_core.data.learning`: sample-based RIFT (fitted soft Q-iteration), safe by default;
- :mod:`rift_core.data.confidence`: confidence sets, pessimistic values and the data certificate.
"""
