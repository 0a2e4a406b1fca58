"""`genre up|down|status`: the local stack (broker, topics, workers) as background processes.

Each part's pid and log live in ``<state_dir>/run``; ``down`` stops only what ``up``
started. Workers read the same ``GENRE_*`` environment, so they see the same settings.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from streams import localkafka
from streams.kafka_io import make_admin
from streams.settings import Settings
from streams.topics import create_topics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Part:
    name: str
    module: str
    group: str | None  # the consumer group the part joins (status reads its members)


def parts(settings: Settings) -> list[Part]:
    from encoders.config import EncoderSettings  # light: pydantic only, no torch
    return [Part("streams-worker", "streams.worker", settings.app_id),
            Part("encoder-worker", "encoders.worker", EncoderSettings().group_id),
            Part("feedback-worker", "streams.feedback.worker", f"{settings.app_id}-feedback"),
            # Reads the whole log by assignment (no group): retrains every GENRE_TRAIN_EVERY events.
            Part("trainer", "streams.training.service", None)]


def run_dir(settings: Settings) -> Path:
    d = settings.state_dir / "run"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _pid(settings: Settings, name: str) -> int | None:
    """The part's pid while it runs (an exited child of ours is reaped, not reported alive)."""
    try:
        pid = int((run_dir(settings) / f"{name}.pid").read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return None if _exited(pid) else pid


def _exited(pid: int) -> bool:
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return True
    except ChildProcessError:
        pass  # not our child: /proc tells whether it is a zombie
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return False


def start_part(settings: Settings, part: Part, env: dict[str, str] | None = None) -> int:
    if (pid := _pid(settings, part.name)) is not None:
        return pid
    logf = open(run_dir(settings) / f"{part.name}.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", part.module], stdout=logf, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, **settings_env(settings), **(env or {})})
    (run_dir(settings) / f"{part.name}.pid").write_text(str(proc.pid))
    log.info("started %s (pid %d), log %s", part.name, proc.pid, logf.name)
    return proc.pid


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings a child process must share with its parent, as GENRE_* variables."""
    env = {"GENRE_STATE_DIR": str(settings.state_dir.resolve()), "GENRE_TOPIC_PREFIX": settings.topic_prefix,
           "GENRE_APP_ID": settings.app_id, "GENRE_PARTITIONS": str(settings.partitions)}
    if settings.kafka_bootstrap:
        env["GENRE_KAFKA_BOOTSTRAP"] = settings.kafka_bootstrap
    else:
        env["GENRE_KAFKA_PORT"] = str(settings.kafka_port)
        env["GENRE_KAFKA_CONTROLLER_PORT"] = str(settings.kafka_controller_port)
    return env


def stop_pid(pid: int, timeout_s: float = 30.0) -> None:
    """SIGTERM the process group, wait, SIGKILL if it will not go."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            pass
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    log.warning("pid %d ignored SIGTERM for %.0fs; killing", pid, timeout_s)
    os.killpg(pid, signal.SIGKILL)


def up(settings: Settings, workers: bool = True) -> dict[str, int]:
    """Start the broker (when local), create topics, start the workers."""
    started: dict[str, int] = {}
    if settings.uses_local_kafka:
        started["kafka"] = localkafka.start(settings)
    create_topics(settings)
    if workers:
        for part in parts(settings):
            started[part.name] = start_part(settings, part)
    return started


def down(settings: Settings, stop_kafka: bool = True) -> list[str]:
    stopped = []
    for part in parts(settings):
        if (pid := _pid(settings, part.name)) is not None:
            stop_pid(pid)
            stopped.append(part.name)
        (run_dir(settings) / f"{part.name}.pid").unlink(missing_ok=True)
    if stop_kafka and settings.uses_local_kafka and localkafka.stop(settings):
        stopped.append("kafka")
    return stopped


def group_members(admin: AdminClient, group: str) -> int | None:
    """Members of a consumer group (None when the broker cannot be asked).

    The admin client must outlive the future, or the future never completes.
    """
    try:
        fut = admin.describe_consumer_groups([group], request_timeout=5)[group]
        return len(fut.result(timeout=10).members)
    except (KafkaException, TimeoutError):
        return None


def status(settings: Settings) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {"kafka": localkafka.status(settings)}
    reachable = True
    admin = make_admin(settings)
    try:
        admin.list_topics(timeout=3)
    except KafkaException:
        reachable = False
    out["kafka"]["reachable"] = reachable
    for part in parts(settings):
        out[part.name] = {"pid": _pid(settings, part.name), "group": part.group,
                          "members": group_members(admin, part.group) if reachable and part.group else None,
                          "log": str(run_dir(settings) / f"{part.name}.log")}
    return out


def wait_ready(settings: Settings, timeout_s: float = 180.0) -> dict[str, dict[str, object]]:
    """Wait until every started part is alive and has joined its consumer group."""
    deadline = time.monotonic() + timeout_s
    st: dict[str, dict[str, object]] = {}
    while time.monotonic() < deadline:
        st = status(settings)
        names = [p for p in parts(settings) if st[p.name]["pid"]]
        if st["kafka"]["reachable"] and all(not p.group or (st[p.name]["members"] or 0) >= 1 for p in names):
            return st
        dead = [p.name for p in parts(settings) if (run_dir(settings) / f"{p.name}.pid").exists()
                and not st[p.name]["pid"]]
        if dead:
            raise RuntimeError(f"{', '.join(dead)} exited; see the logs in {run_dir(settings)}")
        time.sleep(1.0)
    raise TimeoutError(f"stack not ready after {timeout_s:.0f}s: {st}")
