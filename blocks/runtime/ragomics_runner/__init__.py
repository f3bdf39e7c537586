"""ragomics function-block runner.

Runs one tree node inside a container (or, with ``--workspace DIR``, in a host folder):
reads ``job.json``, loads the input AnnData, runs a built-in block or inline code, and writes
the output AnnData, figures and the ``result.json`` manifest. See blocks/README.md.
"""

import time as _time

__version__ = "0.1.0"

# Wall clock (epoch ms) when the runner's own code first ran, i.e. after the interpreter's start-up;
# the first of the phase marks in result.json's `timings` (see timings.py). Taken here, in the
# package's first module, so nothing of ours runs before it.
STARTED_AT_MS = round(_time.time() * 1000, 1)
