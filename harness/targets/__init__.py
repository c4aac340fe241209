"""Endpoints the load users can target, behind one interface (:class:`~harness.targets.base.Target`)."""

from __future__ import annotations

from harness.settings import LoadSettings
from harness.targets.base import Endpoint, Target, TargetError


def make_target(settings: LoadSettings) -> Target:
    """The target named by ``settings.target`` (imported on demand: gdn pulls in ``requests``)."""
    if settings.target == "gdn":
        from harness.targets.gdn import GdnTarget

        return GdnTarget(settings)
    if settings.target == "pulsar":
        from harness.targets.pulsar import PulsarTarget

        return PulsarTarget(settings)
    from harness.targets.emulator import EmulatorTarget

    return EmulatorTarget(settings)


__all__ = ["Endpoint", "Target", "TargetError", "make_target"]
