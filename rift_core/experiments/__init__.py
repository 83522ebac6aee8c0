"""Experiments: the commands and specs that make the book's stored results.

- :mod:`~rift_core.experiments.registry`: registered tasks and supervisors (:func:`register_task`,
  :func:`register_supervisor`, :func:`make_env`);
- :mod:`~rift_core.experiments.runs`: :class:`RunSpec`, :class:`PriorSpec`, :func:`run`, :func:`sweep`,
  :func:`grid`, :func:`train_prior`, :func:`record_prior`, :func:`load_runs`;
- :mod:`~rift_core.experiments.cli`: ``python -m rift_core.experiments {prior,record,run,sweep,report,list}``;
- :mod:`~rift_core.experiments.robustness`: the tabular robustness table.
"""

from .registry import SUPERVISORS, TASKS, Task, make_env, make_supervisor, register_supervisor, register_task
from .runs import (DEFAULT_ROOT, PriorSpec, RunLockedError, RunSpec, finished_result, grid, load_prior, load_runs, run,
                   record_prior, sweep, train_prior)

__all__ = ["Task", "TASKS", "SUPERVISORS", "register_task", "register_supervisor", "make_env", "make_supervisor",
           "RunSpec", "PriorSpec", "run", "sweep", "grid", "train_prior", "record_prior", "load_runs", "load_prior", "finished_result",
           "RunLockedError", "DEFAULT_ROOT"]
