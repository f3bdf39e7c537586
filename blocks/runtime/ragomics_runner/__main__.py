import os
import sys

if __name__ == "__main__":
    if sys.argv[1:] == ["--warm"]:
        # A pooled runner: warms up, then runs the one node named on stdin (see warm.py).
        from .warm import warm_main

        code = warm_main()
    elif sys.argv[1:] == ["--fork-server"]:
        # The local executor's warm mode: forks one child per node (see forkserver.py).
        from .forkserver import fork_server_main

        code = fork_server_main()
    else:
        from .contract import WATCH_STDIN_ENV
        from .runner import main

        if os.environ.get(WATCH_STDIN_ENV) == "1":
            # The executor holds our stdin open for as long as it waits for us (Docker's attach
            # connection, the local executor's pipe): EOF means its worker died (see orphan.py).
            from .orphan import exit_when_stdin_closes

            exit_when_stdin_closes(0)
        code = main()
    # Everything the node produces is on disk (output written and replaced atomically, result.json
    # fsynced), so the interpreter's teardown (garbage-collecting the AnnData, unloading scanpy,
    # numba, matplotlib: 0.3-0.8 s per node) only delays the exit the worker is waiting for.
    # RAGOMICS_RUNNER_FULL_EXIT=1 keeps the normal teardown (to measure it, or to debug atexit code).
    if os.environ.get("RAGOMICS_RUNNER_FULL_EXIT") == "1":
        sys.exit(code)
    from .loading import release_inline_module

    release_inline_module()  # closes files the block left open at module level
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
