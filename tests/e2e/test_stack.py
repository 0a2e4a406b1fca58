"""The local stack as a user runs it: `genre up`, kcat from outside, `genre status`, `genre down`.

This test starts its own broker (through `genre up`) on free ports, so it also checks that
the launcher works from a cold data folder and that `ps` shows the real Kafka broker.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from streams.localkafka import free_port

pytestmark = pytest.mark.integration
GENRE = [sys.executable, "-m", "streams.cli"]
PARTS = ("streams-worker", "encoder-worker", "feedback-worker")


def run(args: list[str], env: dict[str, str], timeout: float = 240, check: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise AssertionError(f"{args} failed ({res.returncode}):\n{res.stdout}\n{res.stderr[-3000:]}")
    return res


def genre(*args: str, env: dict[str, str], check: bool = True) -> object:
    res = run([*GENRE, *args], env, check=check)
    return orjson.loads(res.stdout) if res.stdout.strip() else None


def kafka_procs(state: Path) -> list[str]:
    ps = subprocess.run(["ps", "-eww", "-o", "args"], capture_output=True, text=True).stdout.splitlines()
    return [p for p in ps if "kafka.Kafka" in p and str(state) in p]


@pytest.fixture
def stack_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {**os.environ, "GENRE_STATE_DIR": str(tmp_path / "state"), "GENRE_KAFKA_PORT": str(free_port()),
           "GENRE_KAFKA_CONTROLLER_PORT": str(free_port()), "GENRE_WORKER_WEB_PORT": str(free_port()),
           "GENRE_TOPIC_PREFIX": f"e{uuid.uuid4().hex[:6]}.", "GENRE_PARTITIONS": "2"}
    env.pop("GENRE_KAFKA_BOOTSTRAP", None)
    yield env
    run([*GENRE, "down"], env, check=False)


def wait_members(env: dict[str, str], timeout_s: float = 180) -> dict:
    deadline = time.monotonic() + timeout_s
    st: dict = {}
    while time.monotonic() < deadline:
        st = genre("status", env=env, check=False)  # type: ignore[assignment]
        if st and all((st[p]["members"] or 0) >= 1 for p in PARTS):
            return st
        time.sleep(2)
    logs = {p: Path(st[p]["log"]).read_text()[-2000:] for p in PARTS if st}
    raise AssertionError(f"workers did not join their groups: {st}\n{logs}")


def kcat(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    bootstrap = f"127.0.0.1:{env['GENRE_KAFKA_PORT']}"
    # murmur2 like Java clients and the workers (librdkafka's default is CRC32): see README.
    res = subprocess.run(["kcat", "-b", bootstrap, "-X", "topic.partitioner=murmur2_random", *args], input=stdin, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return res.stdout


def read_deadletters(env: dict[str, str], n: int, timeout_s: float = 60) -> list[dict]:
    topic = env["GENRE_TOPIC_PREFIX"] + "deadletter"
    deadline = time.monotonic() + timeout_s
    letters: list[dict] = []
    while time.monotonic() < deadline and len(letters) < n:
        out = kcat(env, "-C", "-t", topic, "-o", "beginning", "-e", "-q")
        letters = [orjson.loads(line) for line in out.splitlines() if line.strip()]
        time.sleep(1)
    return letters


def test_up_kcat_status_down(stack_env: dict[str, str]) -> None:
    env, prefix = stack_env, stack_env["GENRE_TOPIC_PREFIX"]
    started = genre("up", env=env)["started"]  # type: ignore[index]
    assert {"kafka", "streams-worker", "encoder-worker", "feedback-worker"} <= set(started)
    assert kafka_procs(Path(env["GENRE_STATE_DIR"]).resolve()), "no java kafka.Kafka process while the stack is up"
    wait_members(env)

    good = {"event_id": "k1", "type": "click", "user_id": "u1", "item_id": "i1", "ts": 1.0}
    bad_rating = {**good, "event_id": "k2", "type": "rating", "value": 11}
    lines = ["u1|" + orjson.dumps(good).decode(), "u1|" + orjson.dumps(bad_rating).decode(), "u2|{not json"]
    kcat(env, "-P", "-t", prefix + "interactions", "-K", "|", stdin="\n".join(lines) + "\n")
    kcat(env, "-P", "-t", prefix + "items", "-K", "|", stdin='m1|{"item_id": "m1"}\n')

    letters = read_deadletters(env, 3)
    reasons = sorted(l["reason"] for l in letters)
    assert len(letters) == 3, letters
    assert any("rating value 11 outside" in r for r in reasons), reasons
    assert any(r.startswith("not JSON") for r in reasons), reasons
    assert any("nothing to encode" in r for r in reasons), reasons
    assert not any(l["value"] and '"k1"' in l["value"] for l in letters), "the valid event was rejected"

    st = genre("status", env=env)
    assert st["streams-worker"]["pid"] and st["encoder-worker"]["pid"], st  # type: ignore[index]
    stopped = genre("down", env=env)
    assert {"kafka", *PARTS} <= set(stopped["stopped"])  # type: ignore[index]
    deadline = time.monotonic() + 30
    while kafka_procs(Path(env["GENRE_STATE_DIR"]).resolve()) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not kafka_procs(Path(env["GENRE_STATE_DIR"]).resolve())

