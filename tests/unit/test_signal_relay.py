"""The signal relay hands SIGINT and SIGTERM to child processes waited on from any thread."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.load.relay import SignalRelay

#: A child in its own session (as Locust runs) that reports the signal it got through its exit code.
CHILD = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGINT, lambda *_: sys.exit(7))\n"
    "print('up', flush=True)\n"
    "time.sleep(30)\n"
)


def start_child() -> subprocess.Popen[bytes]:
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, start_new_session=True)
    assert child.stdout is not None and child.stdout.readline() == b"up\n"
    return child


def end(child: subprocess.Popen[bytes]) -> None:
    """Never leave a child behind, whatever the test found."""
    child.kill()
    child.wait()
    if child.stdout is not None:
        child.stdout.close()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_this_process_reaches_the_child_as_sigint(signum: int) -> None:
    relay = SignalRelay()
    child = start_child()
    try:
        with relay.installed(), relay.watching(child):
            os.kill(os.getpid(), signum)
            assert child.wait(timeout=20) == 7
        assert relay.received == [signum]
    finally:
        end(child)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler, "the previous handler is back"


def test_children_waited_on_from_threads_all_get_it_once() -> None:
    relay = SignalRelay()
    children = [start_child() for _ in range(3)]
    ready = threading.Barrier(len(children) + 1)

    def wait_on(child: subprocess.Popen[bytes]) -> int:
        with relay.installed(), relay.watching(child):  # off the main thread: the outer relay serves
            ready.wait(timeout=20)
            return child.wait(timeout=20)

    try:
        with relay.installed(), ThreadPoolExecutor(len(children)) as pool:
            codes = pool.map(wait_on, children)
            ready.wait(timeout=20)
            os.kill(os.getpid(), signal.SIGINT)
            assert list(codes) == [7, 7, 7]
    finally:
        for child in children:
            end(child)


def test_a_child_that_starts_after_the_signal_is_stopped_at_once() -> None:
    relay = SignalRelay()
    with relay.installed():
        os.kill(os.getpid(), signal.SIGINT)
        child = start_child()
        try:
            with relay.watching(child):
                assert child.wait(timeout=20) == 7
        finally:
            end(child)


def test_off_the_main_thread_without_a_relay_nothing_is_installed() -> None:
    relay = SignalRelay()
    seen: list[object] = []

    def inside() -> None:
        with relay.installed():
            seen.append(signal.getsignal(signal.SIGINT))

    thread = threading.Thread(target=inside)
    thread.start()
    thread.join(timeout=20)
    assert seen == [signal.default_int_handler]
