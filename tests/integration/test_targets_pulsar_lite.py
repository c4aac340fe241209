"""A real pulsar-lite broker: started on loopback only, answers the official client, stopped with its data gone.

Each test starts its own broker (about 0.1 s) and stops it by PID; the probe's refusals are the real
pulsar-client's, in the child process the targets use.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pulsar
import pytest

from harness.settings import LoadSettings
from harness.targets import make_target
from harness.targets.base import TargetError
from harness.targets.pulsar_lite import LiteProcess, PulsarLiteTarget
from tests.conftest import timeout


@pytest.fixture
def lite() -> Iterator[LiteProcess]:
    with LiteProcess() as process:
        yield process


def settings(**values: object) -> LoadSettings:
    made = LoadSettings(**values)  # type: ignore[arg-type]
    made.validate()
    return made


def listening(pid: int) -> list[tuple[str, int]]:
    """The TCP addresses the process listens on."""
    return [
        (conn.laddr.ip, conn.laddr.port)
        for conn in psutil.Process(pid).net_connections(kind="inet")
        if conn.status == psutil.CONN_LISTEN
    ]


def test_the_broker_listens_on_loopback_only_and_its_folder_goes_with_it(lite: LiteProcess) -> None:
    assert lite.pid is not None and lite.folder is not None
    assert lite.url == f"pulsar://127.0.0.1:{lite.port}"
    time.sleep(0.3)  # a metrics endpoint, were it on, would be listening by now
    sockets = listening(lite.pid)
    assert (("127.0.0.1", lite.port)) in sockets
    assert all(ip == "127.0.0.1" for ip, _ in sockets), sockets
    assert 8080 not in {port for _, port in sockets}
    folder, pid = lite.folder, lite.pid
    assert (folder / "data").is_dir()  # the broker's RocksDB lives in the run's own folder
    lite.stop()
    assert not folder.exists()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_the_official_client_produces_and_consumes_on_it(lite: LiteProcess) -> None:
    client = pulsar.Client(
        lite.url, operation_timeout_seconds=5, logger=pulsar.FileLogger(pulsar.LoggerLevel.Error, os.devnull)
    )
    try:
        topic = "persistent://public/default/lite-roundtrip"
        consumer = client.subscribe(topic, "s", consumer_type=pulsar.ConsumerType.Shared)
        client.create_producer(topic).send(b"hello")
        message = consumer.receive(timeout_millis=int(timeout(5000)))
        assert message.data() == b"hello"
        consumer.acknowledge(message)
    finally:
        client.close()


def test_prepare_starts_the_broker_and_close_stops_it(tmp_path: Path) -> None:
    target = make_target(settings(target="pulsar-lite"))
    assert isinstance(target, PulsarLiteTarget)
    target.check()  # the binary is there
    target.prepare()
    try:
        process = target.process
        assert process is not None and process.pid is not None and process.folder is not None
        assert target.base_url == process.url  # what the master hands its workers
        endpoint = target.native_endpoint()
        assert endpoint is not None and endpoint.service_url == process.url and endpoint.distinct_consumer_ids
        described = target.describe()
        assert (described["kind"], described["protocol"], described["embedded"]) == ("pulsar-lite", "binary", True)
        pid, folder = process.pid, process.folder
    finally:
        target.close()
    assert not folder.exists()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_a_worker_uses_the_masters_broker_and_starts_none(lite: LiteProcess) -> None:
    worker = make_target(settings(target="pulsar-lite", url=lite.url))
    assert isinstance(worker, PulsarLiteTarget)
    worker.prepare()  # checks the running broker, starts nothing
    assert worker.process is None and worker.base_url == lite.url
    worker.close()
    assert lite.process is not None and lite.process.poll() is None  # the master's broker runs on


def test_a_topic_name_the_client_rejects_is_one_line(lite: LiteProcess) -> None:
    target = make_target(settings(target="pulsar", url=lite.url, topic="persistent://no tenant/default/x"))
    with pytest.raises(TargetError) as caught:
        target.check_access()
    message = str(caught.value)
    assert "'persistent://no tenant/default/x' is not a valid Pulsar topic name" in message and "\n" not in message


def test_a_failed_prepare_stops_the_broker_it_started(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the broker's data folder lands here
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    target = make_target(settings(target="pulsar-lite", topic="persistent://bad tenant/default/x"))
    with pytest.raises(TargetError, match="is not a valid Pulsar topic name"):
        target.prepare()
    assert isinstance(target, PulsarLiteTarget) and target.process is None
    assert list(tmp_path.iterdir()) == []  # the data folder is gone too


def test_a_killed_broker_makes_check_and_prepare_one_line(lite: LiteProcess) -> None:
    url = lite.url
    assert lite.process is not None
    os.kill(lite.process.pid, signal.SIGKILL)
    lite.process.wait(timeout(10))
    target = make_target(settings(target="pulsar-lite", url=url))
    for step in (target.check, target.prepare):
        with pytest.raises(TargetError) as caught:
            step()
        message = str(caught.value)
        assert message.startswith(f"cannot reach the Pulsar broker at 127.0.0.1:{lite.port}") and "\n" not in message
    started = time.monotonic()
    with pytest.raises(TargetError) as probed:  # the pulsar-client probe alone: bounded, one line
        target.check_access()
    assert time.monotonic() - started < timeout(20)
    assert "did not complete the Pulsar handshake" in str(probed.value) and "\n" not in str(probed.value)


def test_before_a_broker_is_started_access_is_checked_on_a_throwaway_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    good = make_target(settings(target="pulsar-lite"))
    good.check_access()
    bad = make_target(settings(target="pulsar-lite", topic="persistent://bad tenant/default/x"))
    with pytest.raises(TargetError, match="is not a valid Pulsar topic name"):
        bad.check_access()
    assert isinstance(good, PulsarLiteTarget) and good.process is None and good.base_url == ""
    assert list(tmp_path.iterdir()) == []  # both throwaway brokers' folders are gone
