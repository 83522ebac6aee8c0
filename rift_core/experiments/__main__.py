"""``python -m rift_core.experiments``: see :mod:`rift_core.experiments.cli`."""

import sys

from .cli import main

sys.exit(main())
