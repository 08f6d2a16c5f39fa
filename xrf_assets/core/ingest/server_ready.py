"""Imported by the fork server alone, last of its preloads: the server is ready to fork.

- Its heap is frozen (``gc.freeze``): the readers and month audit workers it forks never walk
  the objects they inherit (the reader, polars, Dagster: ~280,000) in their full collections.
  Each such walk also wrote to every page it crossed, so the kernel copied the pages the fork
  shared; measured, 0.17 s of a reader's CPU per 10,000 files.
- It ends at once when its last client has gone. The server shares its caller's stdout and
  stderr. Left to Python's own exit it tears down what it imported for about a second after the
  caller has ended, keeping those streams open, so whatever reads the run's output through a pipe
  (``| tee``, a scheduler, a benchmark) waits for it. It has nothing to flush: it forks and never
  writes. Its children leave by ``os._exit`` and never run this.
"""

import atexit
import gc
import os

gc.freeze()
atexit.register(os._exit, 0)  # registered last of the server's handlers: it runs first
