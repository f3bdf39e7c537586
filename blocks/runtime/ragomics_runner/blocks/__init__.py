"""Built-in function blocks. Each module defines `run(adata=None, **parameters)`; parameter names
and defaults are those of blocks/catalog.json (generated from common/block-catalog.ts).
A module may set REQUIRES_INPUT = False when it can run without an input AnnData, and
USES_SCANPY = False when it never imports scanpy (the runner imports scanpy before run()
otherwise, so that its import counts as import time in result.json's `timings`)."""
