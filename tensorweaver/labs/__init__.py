"""The labs' tooling, one module per job, apart from the engine's own modules:

- ``tensorweaver.labs.record``    ``record()`` and ``quick()``, used inside a lab;
- ``tensorweaver.labs.runner``    the headless runner (nbclient): a lab top to bottom;
- ``tensorweaver.labs.build``     the notebooks from their jupytext sources (``labs/src``);
- ``tensorweaver.labs.grading``   nbgrader: release (student versions) and autograde;
- ``tensorweaver.labs.workspace`` a student's workspace, fed by the release, never overwritten;
- ``tensorweaver.labs.engine_track`` the engine track (labs 10, 12): student copies of engine
  modules, graded piece by piece (``engine_manifest`` lists the pieces);
- ``python -m tensorweaver.labs`` the command line for all of them (``--help``).

Only ``record`` and ``quick`` are imported here (a lab's first cell imports them); the others
load their libraries (nbclient, jupytext, nbgrader) when used.
"""
from tensorweaver.labs.record import METRICS_ENV, QUICK_ENV, quick, record

__all__ = ["METRICS_ENV", "QUICK_ENV", "quick", "record"]
