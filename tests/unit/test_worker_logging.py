"""A worker's logging set-up: the level asked for is the level the process logs at."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHECK = """
import logging
from streams.settings import get_settings
from streams.worker import build_worker
worker = build_worker(get_settings())
worker._setup_logging()  # what execute_from_commandline does first
fetcher = logging.getLogger("aiokafka.consumer.fetcher")
print(logging.getLevelName(logging.getLogger().level), fetcher.isEnabledFor(logging.DEBUG))
"""


@pytest.mark.parametrize("level", ["WARNING", "ERROR", "INFO"])
def test_no_debug_records_above_debug(level: str, tmp_path: Path) -> None:
    # Faust's start-up spinner used to set the root logger to DEBUG at WARNING and above,
    # so aiokafka built a log record per partition per fetch that nothing printed.
    env = {**os.environ, "GENRE_LOG_LEVEL": level, "GENRE_STATE_DIR": str(tmp_path),
           "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", CHECK], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-2:] == [level, "False"]
