"""One typed settings object for a load run, and the one list of options it is built from.

The same :data:`LOAD_OPTIONS` become Locust custom arguments (command line, ``locust.conf``,
``[tool.locust]``, the web UI form) and the ``streamharness load`` command's options, so the two
can never disagree. Validation turns every bad value into one line naming the option.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness import wire
from harness.argtypes import MAX_SECONDS
from harness.errors import HarnessError
from harness.events.runfolder import run_id_problem
from harness.wire import JAVA_INT_MAX, MIN_ACK_TIMEOUT_MS, MIN_NATIVE_ACK_TIMEOUT_MS

#: Values past a Java int (wire.JAVA_INT_MAX) fail the handshake of every consumer, and an ack timeout below
#: wire.MIN_ACK_TIMEOUT_MS never subscribes: both are refused before the run. Time settings stop at
#: argtypes.MAX_SECONDS: far longer ones overflow gevent's timers and the schedule's nanosecond arithmetic.
#: More users than one run could ever start: a sane bound, not a tuning limit.
MAX_USERS = 100_000
#: Messages per second per producer: far beyond what one producer can send.
MAX_RATE = 10_000_000.0
#: The least rate and the shortest stage: below them a schedule's interval or a stage is meaningless.
MIN_RATE = 0.001
MIN_STEP_SECONDS = 0.001

#: Names that go into the WebSocket handshake's URL, and the most characters each may have: Pulsar's
#: proxy (Jetty) and the emulator (aiohttp) refuse a request line over 8 KiB, so every consumer's
#: handshake would fail, and the run read as an endpoint lost.
NAME_OPTIONS: tuple[str, ...] = ("--topic", "--subscription", "--stream", "--fabric", "--tenant")
MAX_NAME_CHARS = 1000

#: The binary protocol sends payload bytes as they are (no base64, no JSON envelope): a message may reach
#: Pulsar's default maxMessageSize (broker.conf, 5 MiB), less room for the stamp's properties and metadata.
NATIVE_MAX_MESSAGE_BYTES = 5 * 1024 * 1024
NATIVE_ENVELOPE_BYTES = 4096

#: Every number option's (flag, lowest, highest), checked in this order. NaN and infinity are in no range.
NUMBER_RANGES: tuple[tuple[str, float, float], ...] = (
    ("--producers", 0, MAX_USERS),
    ("--consumers", 0, MAX_USERS),
    ("--size", 0, JAVA_INT_MAX),
    ("--rate", 0, MAX_RATE),
    ("--duration", 0, MAX_SECONDS),
    ("--drain-timeout", 0, MAX_SECONDS),
    ("--receiver-queue-size", 0, JAVA_INT_MAX),
    ("--permits", 1, JAVA_INT_MAX),
    ("--keys", 0, JAVA_INT_MAX),
    ("--ack-timeout-ms", 0, JAVA_INT_MAX),
    ("--nack-probability", 0, 1),
    ("--nack-delay-ms", 0, JAVA_INT_MAX),
    ("--processing-ms", 0, MAX_SECONDS * 1000),
    ("--ack-delay-ms", 0, MAX_SECONDS * 1000),
    ("--churn-interval", 0, MAX_SECONDS),
    ("--ramp-from", 0, MAX_RATE),
    ("--step-seconds", 0, MAX_SECONDS),
)


class SettingsError(HarnessError, ValueError):
    """A setting with a bad value; the message is one line that names the option."""


#: URL schemes of the Pulsar WebSocket proxy and GDN (HTTP ones become WebSocket ones).
WEBSOCKET_SCHEMES = ("ws://", "wss://", "http://", "https://")
#: URL schemes of the Pulsar binary protocol (the native driver): plain and TLS.
NATIVE_SCHEMES = ("pulsar://", "pulsar+ssl://")
#: The binary protocol's ports when a URL names none (Pulsar's brokerServicePort and brokerServicePortTls).
NATIVE_DEFAULT_PORTS = {"pulsar": 6650, "pulsar+ssl": 6651}


def check_url(flag: str, url: str, schemes: tuple[str, ...] = WEBSOCKET_SCHEMES) -> None:
    """A URL with one of ``schemes``, a host and, if any, a port that parses; SettingsError otherwise."""
    if not url.startswith(schemes):
        listed = ", ".join(schemes[:-1]) + f" or {schemes[-1]}" if len(schemes) > 1 else schemes[0]
        raise SettingsError(f"{flag} must start with {listed}, not {url!r}")
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # an IPv6 address with a bracket missing, say
        raise SettingsError(f"{flag} {url!r} is not a valid URL ({exc})") from None
    if any(char.isspace() or not char.isprintable() for char in url):  # urlsplit drops some silently
        raise SettingsError(f"{flag} {url!r} holds a space or a control character")
    if not parts.hostname:
        raise SettingsError(f"{flag} {url!r} has no host")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:  # 0 parses, then reads as "no port" and silently becomes 80 or 443
        raise SettingsError(f"{flag} {url!r} has a bad port (a number from 1 to 65535)")


def speaks_binary(target: str, url: str) -> bool:
    """Whether a run on ``target`` at ``url`` speaks the Pulsar binary protocol (the native driver)."""
    return target == "pulsar-lite" or (target == "pulsar" and url.startswith(NATIVE_SCHEMES))


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
        return option_dest(self.flag)

    @property
    def is_flag(self) -> bool:
        """A boolean option: a checkbox in the web UI, a bare flag on the command line."""
        return isinstance(self.default, bool)

    @property
    def env_var(self) -> str:
        return "STREAMHARNESS_" + self.dest.upper()


TARGETS = ("emulator", "gdn", "pulsar", "pulsar-lite")
PAYLOAD_PATTERNS = ("fill", "random", "zeros")
STAMPS = ("properties", "header")
PROFILES = ("constant", "ramp", "step")
EVENT_DESTINATIONS = ("master", "local")


def _flag(text: str) -> bool:
    """A boolean option's value from a config file or environment variable."""
    lowered = str(text).strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {text!r}")


LOAD_OPTIONS: tuple[OptionSpec, ...] = (
    # where the endpoint is and how to authenticate
    OptionSpec(
        "--target",
        str,
        "emulator",
        "Endpoint kind: emulator (started for the run), gdn, pulsar, or pulsar-lite (a real Pulsar-protocol "
        "broker started for the run).",
        TARGETS,
    ),
    OptionSpec(
        "--url",
        str,
        "",
        "Endpoint base URL. pulsar: pulsar://host:6650 or pulsar+ssl://host:6651 (binary protocol), or "
        "ws(s)://host:port (WebSocket proxy); gdn: https://<federation> (api- added).",
    ),
    OptionSpec("--api-key", str, "", "GDN API key (tenant = the key minus its last two dot-parts).", secret=True),
    OptionSpec("--email", str, "", "GDN account email, with --password: logs in for a JWT."),
    OptionSpec("--password", str, "", "GDN account password, with --email.", secret=True),
    OptionSpec(
        "--token",
        str,
        "",
        "Pulsar bearer token (broker or proxy), or a GDN JWT (its tenant claim is used).",
        secret=True,
    ),
    OptionSpec("--tenant", str, "", "GDN tenant; derived from the credentials when empty."),
    OptionSpec("--fabric", str, "_system", "GDN fabric (database) of the stream."),
    OptionSpec("--stream", str, "streamharness", "GDN stream name; created if missing."),
    OptionSpec("--local-stream", _flag, False, "GDN: a local (one-region) stream instead of a global one."),
    OptionSpec("--region-url", str, "", "GDN: regional host of a local stream; asked from /datacenter/local if empty."),
    OptionSpec("--insecure", _flag, False, "Do not verify TLS certificates (verification is on by default)."),
    OptionSpec("--ca-file", str, "", "PEM file of CA certificates to verify the endpoint's TLS certificate with."),
    OptionSpec(
        "--topic", str, "persistent://public/default/streamharness", "Pulsar/emulator topic, persistent://t/ns/n."
    ),
    # the subscription and its consumers
    OptionSpec("--subscription", str, "streamharness", "Subscription name shared by every consumer."),
    OptionSpec(
        "--subscription-type", str, "Shared", "Subscription type of the consumers.", tuple(wire.SUBSCRIPTION_TYPES)
    ),
    OptionSpec("--consumers", int, 2, "Number of consumer users."),
    OptionSpec("--receiver-queue-size", int, 1000, "Consumer receiverQueueSize (the endpoint caps it at 1000)."),
    OptionSpec("--pull-mode", _flag, False, "Consumers ask for messages with permits (pullMode=true)."),
    OptionSpec("--permits", int, 100, "Pull mode: permits a consumer keeps outstanding."),
    OptionSpec(
        "--ack-timeout-ms",
        int,
        0,
        "ackTimeoutMillis: unacked messages are redelivered after this; 0 = off, else at least 1000 (Pulsar's least).",
    ),
    OptionSpec("--nack-probability", float, 0.0, "Fraction of deliveries answered with a negative ack, 0..1."),
    OptionSpec("--nack-delay-ms", int, 1000, "negativeAckRedeliveryDelay in ms (Pulsar's default is 60000)."),
    OptionSpec("--processing-ms", float, 0.0, "Simulated processing time per message (a slow consumer), ms."),
    OptionSpec("--ack-delay-ms", float, 0.0, "Delay between processing and the ack, ms (receiving goes on)."),
    OptionSpec("--churn-interval", float, 0.0, "Each consumer disconnects and reconnects every N s while producing."),
    # the producers
    OptionSpec("--producers", int, 2, "Number of producer users."),
    OptionSpec("--rate", float, 100.0, "Messages per second per producer, on an absolute schedule."),
    OptionSpec("--size", int, 100, "Payload bytes per message."),
    OptionSpec(
        "--payload", str, "fill", "Payload pattern: fill (ASCII), random (incompressible) or zeros.", PAYLOAD_PATTERNS
    ),
    OptionSpec("--stamp", str, "properties", "Where uid and send times go: properties, or a payload header.", STAMPS),
    OptionSpec("--keys", int, 0, "Distinct message keys, cycled (for Key_Shared); 0 = no key."),
    OptionSpec(
        "--batching",
        _flag,
        False,
        "Producer batching, off by default; binary protocol only (--target pulsar with a pulsar:// URL, or "
        "pulsar-lite).",
    ),
    # the timeline
    OptionSpec("--rate-profile", str, "constant", "Offered rate over time: constant, ramp or step.", PROFILES),
    OptionSpec("--duration", float, 30.0, "Seconds of producing before the drain; 0 = until stopped."),
    OptionSpec("--ramp-from", float, 0.0, "ramp: rate per producer at the start; rises to --rate over --duration."),
    OptionSpec("--step-rates", str, "", "step: comma-separated rates per producer, one stage each, e.g. 100,200,400."),
    OptionSpec("--step-seconds", float, 10.0, "step: seconds per stage."),
    OptionSpec("--drain-timeout", float, 30.0, "Seconds consumers may take to empty the backlog after producing."),
    # where the results go
    OptionSpec(
        "--events-to",
        str,
        "master",
        "Distributed runs: ship events to the master, or keep them local.",
        EVENT_DESTINATIONS,
    ),
    OptionSpec(
        "--reports-dir",
        str,
        "reports",
        "Folder that receives one run folder per run; created if missing, must be writable.",
    ),
    OptionSpec(
        "--run-id",
        str,
        "",
        "Run folder name: letters, digits, '.', '_', '-' (no leading '.' or '-'); a fresh timestamped id when empty. "
        "A run whose folder exists already is refused, never appended to.",
    ),
)


@dataclass(frozen=True)
class LoadSettings:
    """Every setting of a load run, validated."""

    target: str = "emulator"
    url: str = ""
    api_key: str = ""
    email: str = ""
    password: str = ""
    token: str = ""
    tenant: str = ""
    fabric: str = "_system"
    stream: str = "streamharness"
    local_stream: bool = False
    region_url: str = ""
    insecure: bool = False
    ca_file: str = ""
    topic: str = "persistent://public/default/streamharness"
    subscription: str = "streamharness"
    subscription_type: str = "Shared"
    consumers: int = 2
    receiver_queue_size: int = 1000
    pull_mode: bool = False
    permits: int = 100
    ack_timeout_ms: int = 0
    nack_probability: float = 0.0
    nack_delay_ms: int = 1000
    processing_ms: float = 0.0
    ack_delay_ms: float = 0.0
    churn_interval: float = 0.0
    producers: int = 2
    rate: float = 100.0
    size: int = 100
    payload: str = "fill"
    stamp: str = "properties"
    keys: int = 0
    batching: bool = False
    rate_profile: str = "constant"
    duration: float = 30.0
    ramp_from: float = 0.0
    step_rates: str = ""
    step_seconds: float = 10.0
    drain_timeout: float = 30.0
    events_to: str = "master"
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
        for spec in LOAD_OPTIONS:
            value = getattr(self, spec.dest)
            if spec.choices and value not in spec.choices:
                raise SettingsError(f"{spec.flag} must be one of {', '.join(spec.choices)}, not {value!r}")
        self._validate_target()
        if not self.subscription:
            raise SettingsError("--subscription must not be empty")
        if not self.reports_dir.strip():  # Path("") is the current folder: a run would land in it unasked
            raise SettingsError("--reports-dir must not be empty (give . for the current folder)")
        for flag in NAME_OPTIONS:
            name = getattr(self, option_dest(flag))
            if len(name) > MAX_NAME_CHARS:
                raise SettingsError(
                    f"{flag} is {len(name)} characters, over {MAX_NAME_CHARS}: "
                    "it goes into the handshake URL, whose request line endpoints cap at 8 KiB"
                )
        if math.isfinite(self.rate) and not self.rate >= MIN_RATE:
            raise SettingsError(
                f"--rate must be greater than 0 messages/s (at least {MIN_RATE:g}), not {_shown(self.rate)}"
            )
        for flag, low, high in NUMBER_RANGES:
            check_range(flag, getattr(self, option_dest(flag)), low, high)
        if 0 < self.ack_timeout_ms < MIN_ACK_TIMEOUT_MS:
            raise SettingsError(
                f"--ack-timeout-ms must be 0 (off) or at least {MIN_ACK_TIMEOUT_MS}, the least Pulsar accepts, "
                f"not {self.ack_timeout_ms}"
            )
        problem = run_id_problem(self.run_id) if self.run_id else None
        if problem:
            raise SettingsError(f"--run-id {self.run_id!r}: {problem}")
        if self.native_protocol:
            if 0 < self.ack_timeout_ms < MIN_NATIVE_ACK_TIMEOUT_MS:
                raise SettingsError(
                    f"--ack-timeout-ms must be 0 (off) or at least {MIN_NATIVE_ACK_TIMEOUT_MS} with the binary "
                    f"protocol (the least pulsar-client's C++ core accepts), not {self.ack_timeout_ms}"
                )
            if self.pull_mode:
                raise SettingsError("--pull-mode is a WebSocket proxy feature; the binary protocol's client has none")
            if self.size + NATIVE_ENVELOPE_BYTES > NATIVE_MAX_MESSAGE_BYTES:
                raise SettingsError(
                    f"--size {self.size} with its stamp and metadata passes the broker's "
                    f"{NATIVE_MAX_MESSAGE_BYTES}-byte message limit (Pulsar's default maxMessageSize)"
                )
        elif payload_frame_bytes(self.size) > wire.MAX_TEXT_FRAME_BYTES:
            raise SettingsError(
                f"--size {self.size} makes a frame of {payload_frame_bytes(self.size)} bytes, over the endpoint's "
                f"{wire.MAX_TEXT_FRAME_BYTES}-byte frame limit"
            )
        if self.rate_profile == "step":
            stages = self.step_rate_list()
            if self.step_seconds < MIN_STEP_SECONDS:
                raise SettingsError(
                    f"--step-seconds must be at least {MIN_STEP_SECONDS:g}, not {_shown(self.step_seconds)}"
                )
            if len(stages) * self.step_seconds > MAX_SECONDS:
                raise SettingsError(
                    f"--step-rates and --step-seconds make {len(stages) * self.step_seconds:g} s, over the "
                    f"{MAX_SECONDS} s a run may last"
                )
        if self.rate_profile == "ramp" and not self.duration > 0:
            raise SettingsError("--rate-profile ramp needs a --duration greater than 0")

    def _validate_target(self) -> None:
        if self.target == "pulsar" and not self.url:
            raise SettingsError(
                "--url is required with --target pulsar (e.g. pulsar://127.0.0.1:6650, or ws://127.0.0.1:8080 "
                "for the WebSocket proxy)"
            )
        if self.target == "gdn":
            if not self.url:
                raise SettingsError("--url is required with --target gdn (e.g. https://play.paas.macrometa.io)")
            if not (self.api_key or self.token or (self.email and self.password)):
                raise SettingsError(
                    "--target gdn needs credentials: --api-key, --token (a JWT), or --email with --password "
                    "(or STREAMHARNESS_API_KEY / STREAMHARNESS_PASSWORD in the environment)"
                )
            if not self.stream or "/" in self.stream:
                raise SettingsError(f"--stream must be a plain stream name, not {self.stream!r}")
        if self.url:
            check_url("--url", self.url, self.url_schemes())
        if self.region_url:
            check_url("--region-url", self.region_url)
        if self.ca_file and not Path(self.ca_file).is_file():
            raise SettingsError(f"--ca-file {self.ca_file!r}: no such file")
        if self.batching and not self.native_protocol:
            # The WebSocket driver sends one message per frame: a run record saying batching would be false.
            raise SettingsError(
                "--batching needs the binary protocol: --target pulsar with a pulsar:// or pulsar+ssl:// --url, "
                "or --target pulsar-lite"
            )
        if self.target != "gdn":
            self.parsed_topic()

    def url_schemes(self) -> tuple[str, ...]:
        """The schemes ``--url`` may have with this target: the binary ones only for pulsar and pulsar-lite."""
        if self.target == "pulsar":
            return NATIVE_SCHEMES + WEBSOCKET_SCHEMES
        if self.target == "pulsar-lite":  # a broker already started (the master's, for workers)
            return NATIVE_SCHEMES
        return WEBSOCKET_SCHEMES

    @property
    def native_protocol(self) -> bool:
        """The run speaks the Pulsar binary protocol (the native driver), not WebSockets."""
        return speaks_binary(self.target, self.url)

    def parsed_topic(self) -> wire.Topic:
        prefix = "persistent://"
        parts = self.topic[len(prefix) :].split("/") if self.topic.startswith(prefix) else []
        if len(parts) != 3 or not all(parts):
            raise SettingsError(f"--topic must look like persistent://tenant/namespace/name, not {self.topic!r}")
        return wire.Topic(*parts)

    def step_rate_list(self) -> list[float]:
        """The ``--step-rates`` as numbers; SettingsError when empty or not positive numbers."""
        try:
            rates = [float(part) for part in self.step_rates.split(",") if part.strip()]
        except ValueError:
            rates = []
        if not rates or any(not MIN_RATE <= rate <= MAX_RATE for rate in rates):
            raise SettingsError(
                f"--step-rates must be comma-separated rates from {MIN_RATE:g} to {MAX_RATE:g}, e.g. 100,200,400, "
                f"not {self.step_rates!r}"
            )
        return rates

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def option_dest(flag: str) -> str:
    """The attribute an option's value lands in, as argparse names it: ``--max-p99-ms`` -> ``max_p99_ms``."""
    return flag.lstrip("-").replace("-", "_")


def payload_frame_bytes(size: int) -> int:
    """Upper bound of a publish frame's length for a payload of ``size`` bytes (base64 + envelope)."""
    return 4 * ((size + 2) // 3) + 512


def check_range(flag: str, value: float, low: float, high: float) -> None:
    """``low <= value <= high``, with NaN and infinity in no range; SettingsError naming ``flag`` otherwise."""
    if isinstance(value, float) and not math.isfinite(value):
        raise SettingsError(f"{flag} must be a finite number, not {value}")
    if not low <= value <= high:
        raise SettingsError(f"{flag} must be between {_shown(low)} and {_shown(high)}, not {_shown(value)}")


def _shown(value: float) -> str:
    """A number as a user would write it: whole numbers without an exponent or a fraction."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e18 else f"{value:g}"


def add_options(parser: argparse.ArgumentParser, specs: Iterable[OptionSpec] = LOAD_OPTIONS) -> None:
    """Add the options to a plain argparse parser (the ``streamharness load`` command).

    As in Locust, ``STREAMHARNESS_<NAME>`` environment variables give the defaults, so secrets can
    stay off the command line.
    """
    for spec in specs:
        default = spec.default
        if spec.env_var in os.environ:
            try:
                default = spec.type(os.environ[spec.env_var])
            except ValueError:
                raise SettingsError(f"{spec.env_var}: not a valid value for {spec.flag}") from None
        if spec.is_flag:
            parser.add_argument(spec.flag, action="store_true", default=default, help=spec.help)
        else:
            parser.add_argument(spec.flag, type=spec.type, default=default, help=spec.help, metavar=spec.dest.upper())


def to_arguments(settings: LoadSettings, specs: Iterable[OptionSpec] = LOAD_OPTIONS) -> list[str]:
    """The non-secret settings back as command-line arguments, for handing to a Locust process.

    Secrets are left out: a command line is visible to every user of the machine. Pass them with
    :func:`secret_environment` instead.
    """
    values = settings.as_dict()
    args: list[str] = []
    for spec in specs:
        value = values[spec.dest]
        if value == spec.default or spec.secret:
            continue
        args += [spec.flag] if spec.is_flag else [spec.flag, str(value)]
    return args


def environment_without_secrets() -> dict[str, str]:
    """This process's environment minus every secret option's variable, for a child that needs none."""
    secret = {spec.env_var for spec in LOAD_OPTIONS if spec.secret}
    return {name: value for name, value in os.environ.items() if name not in secret}


def secret_environment(settings: LoadSettings, specs: Iterable[OptionSpec] = LOAD_OPTIONS) -> dict[str, str]:
    """The secret settings as the environment variables their options read."""
    values = settings.as_dict()
    return {spec.env_var: str(values[spec.dest]) for spec in specs if spec.secret and values[spec.dest]}
