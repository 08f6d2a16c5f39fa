"""Imported by the fork server alone, last of its preloads: the server ends at once when its
last client has gone.

The server shares its caller's stdout and stderr. Left to Python's own exit it tears down what it
imported (the reader, polars, Dagster for the audit workers) for about a second after the caller
has ended, keeping those streams open, so whatever reads the run's output through a pipe (``|
tee``, a scheduler, a benchmark) waits for it. It has nothing to flush: it forks and never writes.
Its children leave by ``os._exit`` and never run this.
"""

import atexit
import os

atexit.register(os._exit, 0)  # registered last of the server's handlers: it runs first
