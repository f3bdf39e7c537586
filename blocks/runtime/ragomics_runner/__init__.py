"""ragomics function-block runner.

Runs one tree node inside a container (or, with ``--workspace DIR``, in a host folder):
reads ``job.json``, loads the input AnnData, runs a built-in block or inline code, and writes
the output AnnData, figures and the ``result.json`` manifest. See blocks/README.md.
"""

__version__ = "0.1.0"
