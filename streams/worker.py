"""``python -m streams.worker``: one streams worker from the ``GENRE_*`` environment.

Logs go to stderr; SIGTERM/SIGINT stop it cleanly (Faust's worker flushes the changelog
and commits offsets on the way out). Web port: ``GENRE_WORKER_WEB_PORT``; tuning knobs:
``GENRE_WORKER_*`` (see :class:`streams.app.WorkerTuning`).
"""
from __future__ import annotations

import os

# One BLAS thread per worker, set before numpy loads OpenBLAS: the worker is one event loop
# whose matrix products are small, and OpenBLAS's spinning helper threads fought the event
# loop, the broker and the other workers for the cores (freshness at 200 events/s: p50
# 64 → 46 ms, p99 260 → 104 ms on the 2-core box). Scale out with worker processes instead.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import gc  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402

import faust  # noqa: E402

from streams.app import WorkerTuning, create_app  # noqa: E402
from streams.settings import Settings, get_settings  # noqa: E402
from streams.topics import create_topics  # noqa: E402

log = logging.getLogger(__name__)


def build_worker(settings: Settings) -> faust.Worker:
    app = create_app(settings)
    worker = faust.Worker(app, loglevel=settings.log_level, logfile=None, redirect_stdouts=False,
                          override_logging=True, console_port=None)
    # Faust's start-up spinner, at WARNING and above, sets the *root* logger to DEBUG and
    # hangs a handler on it, so every debug call in the process builds and handles a record:
    # aiokafka logs one per partition per fetch (~5 % of a worker's CPU at 200 events/s).
    # A service's log is no terminal: no spinner, and the root logger keeps its level.
    worker.spinner = None
    return worker


def tune_gc(tuning: WorkerTuning) -> None:
    """Collect young objects every ``gc_threshold`` allocations instead of every 700.

    A worker allocates a few dozen short-lived objects per event (Faust events, messages,
    parsed dicts) while holding hundreds of thousands of long-lived ones (cached user
    records, item vectors): with Python's defaults the collector ran every ~15 events and
    its older generations kept rescanning the long-lived heap. 200,000 / 100 / 100 applied
    the rules ~10 % faster than 50,000 / 20 / 50 in a broker-less micro-benchmark (43-46 vs
    48-53 µs an event; gc disabled: 43.5). Nothing here relies on cycles being freed
    promptly; memory held by cyclic garbage stays bounded by the thresholds.
    """
    if tuning.gc_threshold > 0:
        gc.set_threshold(tuning.gc_threshold, 100, 100)  # older generations: rarer still
    gc.freeze()  # what imports and setup made lives as long as the process: never rescan it


def tune_threads(tuning: WorkerTuning) -> None:
    """Hand the GIL between threads every ``switch_interval_s`` instead of every 5 ms.

    Faust fetches in its own consumer thread, which needs the GIL for every step of a fetch
    (response parsing, hand-off to the event loop); with the event loop busy ranking it
    waited up to 5 ms per step. At 200 events/s, 0.5 ms cut the median age of an event when
    the agent gets it from 27-29 ms to 19-23 ms (docs/benchmarks.md).
    """
    sys.setswitchinterval(tuning.switch_interval_s)


def main() -> int:
    settings = get_settings()
    logging.basicConfig(stream=sys.stderr, level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    create_topics(settings)  # idempotent; lets a worker start before 'genre up' made them
    worker = build_worker(settings)
    tuning = worker.app.genre.tuning  # the app's own reading of GENRE_WORKER_*
    tune_gc(tuning)
    tune_threads(tuning)
    try:
        worker.execute_from_commandline()  # returns/raises SystemExit when stopped
    finally:
        left = worker.app.genre.producer.flush(10)
        if left:
            log.error("%d dead letters were not delivered", left)
    return 0


if __name__ == "__main__":
    sys.exit(main())
