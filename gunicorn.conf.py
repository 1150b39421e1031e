"""gunicorn's settings for labelserver's web processes; gunicorn reads this file from the working
directory (the repository root, in `make run` and in the Docker image) before its command line."""

import gc


def post_worker_init(worker: object) -> None:
    # Import Cellpose and set PyTorch to one thread before the first request, not on a labeller's
    # first click: that import takes 7-10 s and would stall every request of the process meanwhile.
    from active_learning.proposals import warm_up

    warm_up()
    # Those imports leave ~450k long-lived objects, which each full garbage collection walks again:
    # ~200 ms during which no request of the process moves. They live as long as the process, so
    # the collector is told to leave them out (a full collection then walks only what came later).
    gc.freeze()
