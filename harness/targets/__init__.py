"""Endpoints the load users can target, behind one interface (:class:`~harness.targets.base.Target`)."""

from __future__ import annotations

from harness.settings import LoadSettings
from harness.targets.base import Endpoint, Target, TargetError
from harness.targets.emulator import EmulatorTarget
from harness.targets.pulsar import PulsarTarget

_KINDS: dict[str, type[Target]] = {"emulator": EmulatorTarget, "pulsar": PulsarTarget}


def make_target(settings: LoadSettings) -> Target:
    """The target named by ``settings.target``."""
    return _KINDS[settings.target](settings)  # type: ignore[call-arg]


__all__ = ["Endpoint", "Target", "TargetError", "make_target"]
