"""One typed settings object for a load run, and the one list of options it is built from.

The same :data:`LOAD_OPTIONS` become Locust custom arguments (command line, ``locust.conf``,
``[tool.locust]``, the web UI form) and the ``streamharness load`` command's options, so the two
can never disagree. Validation turns every bad value into one line naming the option.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from typing import Any

from harness import wire
from harness.errors import HarnessError


class SettingsError(HarnessError, ValueError):
    """A setting with a bad value; the message is one line that names the option."""


@dataclass(frozen=True)
class OptionSpec:
    """One option: its flag, type, default and help, shared by Locust and the CLI."""

    flag: str
    type: Callable[[str], Any]
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    secret: bool = False

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def env_var(self) -> str:
        return "STREAMHARNESS_" + self.dest.upper()


TARGETS = ("emulator", "pulsar")

LOAD_OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec("--target", str, "emulator", "Endpoint kind: emulator (started for the run) or pulsar.", TARGETS),
    OptionSpec("--url", str, "", "Endpoint base URL, e.g. ws://127.0.0.1:8080 (set by the run for the emulator)."),
    OptionSpec("--token", str, "", "Bearer token for a Pulsar proxy with authentication.", secret=True),
    OptionSpec("--topic", str, "persistent://public/default/streamharness", "Topic, persistent://tenant/ns/name."),
    OptionSpec("--subscription", str, "streamharness", "Subscription name shared by every consumer."),
    OptionSpec(
        "--subscription-type", str, "Shared", "Subscription type of the consumers.", tuple(wire.SUBSCRIPTION_TYPES)
    ),
    OptionSpec("--producers", int, 2, "Number of producer users."),
    OptionSpec("--consumers", int, 2, "Number of consumer users."),
    OptionSpec("--rate", float, 100.0, "Messages per second per producer, on an absolute schedule."),
    OptionSpec("--size", int, 100, "Payload bytes per message."),
    OptionSpec("--duration", float, 30.0, "Seconds of producing before the drain; 0 = until stopped."),
    OptionSpec("--drain-timeout", float, 30.0, "Seconds consumers may take to empty the backlog after producing."),
    OptionSpec("--receiver-queue-size", int, 1000, "Consumer receiverQueueSize (the endpoint caps it at 1000)."),
    OptionSpec("--reports-dir", str, "reports", "Folder that receives one run folder per run."),
    OptionSpec("--run-id", str, "", "Run folder name; a fresh timestamped id when empty."),
)


@dataclass(frozen=True)
class LoadSettings:
    """Every setting of a load run, validated."""

    target: str = "emulator"
    url: str = ""
    token: str = ""
    topic: str = "persistent://public/default/streamharness"
    subscription: str = "streamharness"
    subscription_type: str = "Shared"
    producers: int = 2
    consumers: int = 2
    rate: float = 100.0
    size: int = 100
    duration: float = 30.0
    drain_timeout: float = 30.0
    receiver_queue_size: int = 1000
    reports_dir: str = "reports"
    run_id: str = ""

    @classmethod
    def from_namespace(cls, namespace: Any) -> LoadSettings:
        """Build from an argparse namespace or Locust's ``parsed_options``, then validate."""
        values = {f.name: getattr(namespace, f.name) for f in fields(cls) if hasattr(namespace, f.name)}
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.target not in TARGETS:
            raise SettingsError(f"--target must be one of {', '.join(TARGETS)}, not {self.target!r}")
        if self.subscription_type not in wire.SUBSCRIPTION_TYPES:
            kinds = ", ".join(wire.SUBSCRIPTION_TYPES)
            raise SettingsError(f"--subscription-type must be one of {kinds}, not {self.subscription_type!r}")
        if self.target == "pulsar" and not self.url:
            raise SettingsError("--url is required with --target pulsar (e.g. ws://127.0.0.1:8080)")
        if self.url and not self.url.startswith(("ws://", "wss://", "http://", "https://")):
            raise SettingsError(f"--url must start with ws://, wss://, http:// or https://, not {self.url!r}")
        self.parsed_topic()
        if not self.subscription:
            raise SettingsError("--subscription must not be empty")
        _at_least("--producers", self.producers, 0)
        _at_least("--consumers", self.consumers, 0)
        if not self.rate > 0:
            raise SettingsError(f"--rate must be greater than 0 messages/s, not {self.rate}")
        _at_least("--size", self.size, 0)
        if payload_frame_bytes(self.size) > wire.MAX_TEXT_FRAME_BYTES:
            raise SettingsError(
                f"--size {self.size} makes a frame of {payload_frame_bytes(self.size)} bytes, over the endpoint's "
                f"{wire.MAX_TEXT_FRAME_BYTES}-byte frame limit"
            )
        _at_least("--duration", self.duration, 0)
        _at_least("--drain-timeout", self.drain_timeout, 0)
        _at_least("--receiver-queue-size", self.receiver_queue_size, 0)

    def parsed_topic(self) -> wire.Topic:
        prefix = "persistent://"
        parts = self.topic[len(prefix) :].split("/") if self.topic.startswith(prefix) else []
        if len(parts) != 3 or not all(parts):
            raise SettingsError(f"--topic must look like persistent://tenant/namespace/name, not {self.topic!r}")
        return wire.Topic(*parts)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def payload_frame_bytes(size: int) -> int:
    """Upper bound of a publish frame's length for a payload of ``size`` bytes (base64 + envelope)."""
    return 4 * ((size + 2) // 3) + 512


def _at_least(flag: str, value: float, low: float) -> None:
    if value < low:
        raise SettingsError(f"{flag} must be at least {low:g}, not {value:g}")


def add_options(parser: argparse.ArgumentParser, specs: Iterable[OptionSpec] = LOAD_OPTIONS) -> None:
    """Add the options to a plain argparse parser (the ``streamharness load`` command)."""
    for spec in specs:
        parser.add_argument(spec.flag, type=spec.type, default=spec.default, help=spec.help, metavar=spec.dest.upper())


def to_arguments(settings: LoadSettings, specs: Iterable[OptionSpec] = LOAD_OPTIONS) -> list[str]:
    """The non-secret settings back as command-line arguments, for handing to a Locust process.

    Secrets are left out: a command line is visible to every user of the machine. Pass them with
    :func:`secret_environment` instead.
    """
    values = settings.as_dict()
    args: list[str] = []
    for spec in specs:
        value = values[spec.dest]
        if value != spec.default and not spec.secret:
            args += [spec.flag, str(value)]
    return args


def secret_environment(settings: LoadSettings, specs: Iterable[OptionSpec] = LOAD_OPTIONS) -> dict[str, str]:
    """The secret settings as the environment variables their options read."""
    values = settings.as_dict()
    return {spec.env_var: str(values[spec.dest]) for spec in specs if spec.secret and values[spec.dest]}
