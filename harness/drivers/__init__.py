"""Drivers: the wire between the Locust users and an endpoint (see :mod:`harness.drivers.base`).

``websocket`` speaks the Pulsar WebSocket proxy and GDN (the emulator included), ``native`` the
Pulsar binary protocol through the official ``pulsar-client``, ``memory`` an in-process broker for
fast tests of the load side. The target chooses: a target with a native endpoint gets the native
driver, every other the WebSocket one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.drivers.base import Driver

if TYPE_CHECKING:
    from harness.settings import LoadSettings
    from harness.targets.base import Target


@dataclass(frozen=True)
class Placement:
    """Where this load process sits among the run's load processes (workers), 0-based."""

    index: int = 0
    count: int = 1


def make_driver(target: Target, settings: LoadSettings, placement: Placement) -> Driver:
    """The driver for ``target`` (imported on demand: pulsar-client loads a 20 MB library)."""
    native = target.native_endpoint()
    if native is not None:
        from harness.drivers.native import NativeDriver

        return NativeDriver(native, settings, placement)
    from harness.drivers.websocket import WebSocketDriver

    return WebSocketDriver(target, settings)


__all__ = ["Driver", "Placement", "make_driver"]
