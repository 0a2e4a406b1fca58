"""``python -m streams.worker``: one streams worker from the ``GENRE_*`` environment.

Logs go to stderr; SIGTERM/SIGINT stop it cleanly (Faust's worker flushes the changelog
and commits offsets on the way out). Web port: ``GENRE_WORKER_WEB_PORT``; tuning knobs:
``GENRE_WORKER_*`` (see :class:`streams.app.WorkerTuning`).
"""
from __future__ import annotations

import logging
import sys

import faust

from streams.app import create_app
from streams.settings import Settings, get_settings
from streams.topics import create_topics

log = logging.getLogger(__name__)


def build_worker(settings: Settings) -> faust.Worker:
    app = create_app(settings)
    return faust.Worker(app, loglevel=settings.log_level, logfile=None, redirect_stdouts=False,
                        override_logging=True, console_port=None)


def main() -> int:
    settings = get_settings()
    logging.basicConfig(stream=sys.stderr, level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    create_topics(settings)  # idempotent; lets a worker start before 'genre up' made them
    worker = build_worker(settings)
    try:
        worker.execute_from_commandline()  # returns/raises SystemExit when stopped
    finally:
        left = worker.app.genre.producer.flush(10)
        if left:
            log.error("%d dead letters were not delivered", left)
    return 0


if __name__ == "__main__":
    sys.exit(main())
