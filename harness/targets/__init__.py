"""Endpoints the load users can target, behind one interface (:class:`~harness.targets.base.Target`)."""

from __future__ import annotations

from harness.settings import LoadSettings
from harness.targets.base import Endpoint, NativeEndpoint, Target, TargetError


def make_target(settings: LoadSettings) -> Target:
    """The target named by ``settings.target`` (imported on demand: gdn pulls in ``requests``).

    ``--target pulsar`` speaks the binary protocol for a ``pulsar://`` or ``pulsar+ssl://`` URL and the
    WebSocket proxy for any other; pulsar-lite always speaks the binary protocol.
    """
    if settings.target == "gdn":
        from harness.targets.gdn import GdnTarget

        return GdnTarget(settings)
    if settings.target == "pulsar-lite":
        from harness.targets.pulsar_lite import PulsarLiteTarget

        return PulsarLiteTarget(settings)
    if settings.target == "pulsar" and settings.native_protocol:  # the URL's scheme chooses the protocol
        from harness.targets.native import NativePulsarTarget

        return NativePulsarTarget(settings)
    if settings.target == "pulsar":
        from harness.targets.pulsar import PulsarTarget

        return PulsarTarget(settings)
    from harness.targets.emulator import EmulatorTarget

    return EmulatorTarget(settings)


__all__ = ["Endpoint", "NativeEndpoint", "Target", "TargetError", "make_target"]
