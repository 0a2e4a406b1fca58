"""A real single-node Apache Kafka (KRaft) for development, tests and the demo.

The official broker jars come from Maven Central (``deploy/kafka/pom.xml`` resolved with
``mvn dependency:copy-dependencies``) into ``<cache_dir>/kafka-<version>/lib`` once; the
data folder is formatted on first use; the broker runs as ``java … kafka.Kafka`` in its
own session so it outlives the command that started it (``genre kafka stop`` ends it).
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from streams.errors import KafkaSetupError
from streams.kafka_io import wait_for_broker
from streams.settings import Settings

log = logging.getLogger(__name__)
DEPLOY_KAFKA = Path(__file__).resolve().parent.parent / "deploy" / "kafka"


def lib_dir(settings: Settings) -> Path:
    return settings.cache_dir / f"kafka-{settings.kafka_version}" / "lib"


def install(settings: Settings) -> Path:
    """Resolve the broker's jars with Maven into the cache (no-op when already there)."""
    lib = lib_dir(settings)
    if (lib / ".complete").exists():
        return lib
    if shutil.which("mvn") is None or shutil.which("java") is None:
        raise KafkaSetupError("installing Kafka needs 'mvn' and 'java' (17+) on PATH")
    tmp = lib.with_name("lib.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    log.info("resolving Apache Kafka %s from Maven Central into %s", settings.kafka_version, lib)
    cmd = ["mvn", "-q", "-B", "-f", str(DEPLOY_KAFKA / "pom.xml"), "dependency:copy-dependencies",
           "-DincludeScope=runtime", f"-DoutputDirectory={tmp}", f"-Dkafka.version={settings.kafka_version}"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise KafkaSetupError(f"mvn failed ({res.returncode}): {res.stdout[-2000:]}{res.stderr[-2000:]}")
    shutil.rmtree(lib, ignore_errors=True)
    tmp.rename(lib)
    (lib / ".complete").touch()
    return lib


def server_properties(settings: Settings, data: Path) -> str:
    h, p, c = settings.kafka_host, settings.kafka_port, settings.kafka_controller_port
    return "\n".join([
        "process.roles=broker,controller", "node.id=1",
        f"controller.quorum.bootstrap.servers={h}:{c}",
        f"listeners=PLAINTEXT://{h}:{p},CONTROLLER://{h}:{c}",
        f"advertised.listeners=PLAINTEXT://{h}:{p},CONTROLLER://{h}:{c}",
        "inter.broker.listener.name=PLAINTEXT", "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        f"log.dirs={data / 'logs'}", f"num.partitions={settings.partitions}",
        "offsets.topic.replication.factor=1", "offsets.topic.num.partitions=8",
        "transaction.state.log.replication.factor=1", "transaction.state.log.min.isr=1",
        "share.coordinator.state.topic.replication.factor=1", "share.coordinator.state.topic.min.isr=1",
        # 3 s by default: it would slow every consumer group's first join.
        "group.initial.rebalance.delay.ms=0",
        f"message.max.bytes={max(settings.max_message_bytes * 2, 1_048_588)}",
        "log.segment.bytes=67108864", "log.cleaner.min.compaction.lag.ms=0",
        "auto.create.topics.enable=true", "",
    ])


def _java(settings: Settings, main: str, *args: str) -> list[str]:
    return ["java", f"-Xmx{settings.kafka_heap}", "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={DEPLOY_KAFKA / 'log4j2.yaml'}",
            "-cp", str(lib_dir(settings) / "*"), main, *args]


def _pid_file(settings: Settings) -> Path:
    return settings.kafka_dir / "kafka.pid"


def running_pid(settings: Settings) -> int | None:
    """The broker's pid if the one we started is alive."""
    try:
        pid = int(_pid_file(settings).read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free now (for tests and benchmarks that start their own broker)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        return s.connect_ex((host, port)) != 0


def format_storage(settings: Settings) -> None:
    data = settings.kafka_dir
    data.mkdir(parents=True, exist_ok=True)
    props = data / "server.properties"
    props.write_text(server_properties(settings, data.resolve()))
    if (data / "logs" / "meta.properties").exists():
        return
    cid = subprocess.run(_java(settings, "kafka.tools.StorageTool", "random-uuid"),
                         capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    res = subprocess.run(_java(settings, "kafka.tools.StorageTool", "format", "--standalone",
                               "-t", cid, "-c", str(props)), capture_output=True, text=True)
    if res.returncode != 0:
        raise KafkaSetupError(f"formatting {data} failed: {res.stdout[-1500:]}{res.stderr[-1500:]}")


def start(settings: Settings, attempts: int = 2) -> int:
    """Install if needed, format on first use, start, and wait until it answers.

    Returns the broker pid. Retries once: quorum formation can time out on a busy machine.
    """
    if not settings.uses_local_kafka:
        raise KafkaSetupError(f"GENRE_KAFKA_BOOTSTRAP={settings.kafka_bootstrap} is set: not starting a local broker")
    if (pid := running_pid(settings)) is not None:
        wait_for_broker(settings, settings.kafka_start_timeout_s)
        return pid
    for port in (settings.kafka_port, settings.kafka_controller_port):
        if not _port_free(settings.kafka_host, port):
            raise KafkaSetupError(f"port {settings.kafka_host}:{port} is taken; set GENRE_KAFKA_PORT / "
                                  "GENRE_KAFKA_CONTROLLER_PORT or stop what holds it")
    install(settings)
    format_storage(settings)
    last: Exception | None = None
    for attempt in range(1, attempts + 1):
        log_path = settings.kafka_dir / "kafka.log"
        with open(log_path, "ab") as out:
            proc = subprocess.Popen(_java(settings, "kafka.Kafka", str(settings.kafka_dir / "server.properties")),
                                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        _pid_file(settings).write_text(str(proc.pid))
        try:
            wait_for_broker(settings, settings.kafka_start_timeout_s)
            log.info("Kafka %s up at %s (pid %d)", settings.kafka_version, settings.bootstrap, proc.pid)
            return proc.pid
        except KafkaSetupError as exc:
            last = exc
            log.warning("Kafka start attempt %d failed: %s", attempt, exc)
            stop(settings)
    raise KafkaSetupError(f"Kafka did not start; see {settings.kafka_dir / 'kafka.log'}: {last}")


def stop(settings: Settings, timeout_s: float = 30.0) -> bool:
    """Stop the broker we started (SIGTERM, then SIGKILL). True if one was running."""
    pid = running_pid(settings)
    if pid is None:
        _pid_file(settings).unlink(missing_ok=True)
        return False
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            break
        _reap(pid)
        time.sleep(0.2)
    else:
        log.warning("Kafka pid %d ignored SIGTERM for %.0fs; killing", pid, timeout_s)
        os.killpg(pid, signal.SIGKILL)
    _reap(pid)
    _pid_file(settings).unlink(missing_ok=True)
    return True


def _reap(pid: int) -> None:
    """Collect our own child so it does not linger as a zombie (kill(pid, 0) would succeed)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def status(settings: Settings) -> dict[str, object]:
    pid = running_pid(settings) if settings.uses_local_kafka else None
    return {"bootstrap": settings.bootstrap, "local": settings.uses_local_kafka, "pid": pid,
            "data": str(settings.kafka_dir) if settings.uses_local_kafka else None}
