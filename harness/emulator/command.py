"""``streamharness emulator``: run the emulated GDN / Pulsar WebSocket endpoint until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
from typing import Any

from harness.emulator.config import PULSAR_VERSIONS, QUEUE_MODELS, TIMER_MODELS
from harness.emulator.faults import parse_fault
from harness.emulator.profiles import BUILTIN_PROFILES, RegionProfile, load_profile
from harness.errors import HarnessError

#: Environment variables (never flags: a command line is visible to every user of the machine).
API_KEY_ENV = "STREAMHARNESS_EMULATOR_API_KEY"
PASSWORD_ENV = "STREAMHARNESS_EMULATOR_PASSWORD"


def _host(text: str) -> str:
    """An address to bind; empty is refused, since the server would then bind every interface unasked."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must name an address (0.0.0.0 binds every interface, on purpose)")
    return text


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range: {value}")
    return value


#: Bounds of the emulator's counts and sizes: sane limits far past any real use, so an absurd value is
#: refused at once instead of overflowing later.
MAX_COUNT = 2**31 - 1
MAX_BYTES = 2**50
#: A profile's latency or jitter beyond an hour, or a service rate beyond this, is a mistake.
MAX_PROFILE_MS = 3_600_000.0
MAX_SERVICE_RATE = 1e9


def _positive(text: str, high: int = MAX_COUNT) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 1 <= value <= high:
        raise argparse.ArgumentTypeError(f"must be from 1 to {high}: {value}")
    return value


def _byte_count(text: str) -> int:
    return _positive(text, MAX_BYTES)


def checked_profile(profile: RegionProfile) -> RegionProfile:
    """A region profile whose numbers are finite and in range: NaN delays or an infinite rate never reach the loop."""
    for key, high in (
        ("latency_ms", MAX_PROFILE_MS),
        ("jitter_ms", MAX_PROFILE_MS),
        ("service_rate", MAX_SERVICE_RATE),
    ):
        value = getattr(profile, key)
        if not (math.isfinite(value) and value <= high):
            raise HarnessError(f"profile {profile.name}: {key} must be a finite number up to {high:g}, not {value}")
    return profile


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("emulator", help="Run the emulated GDN / Pulsar WebSocket endpoint.")
    parser.add_argument("--host", type=_host, default="127.0.0.1", help="Address to bind (default 127.0.0.1).")
    parser.add_argument("--port", type=_port, default=8080, help="Port to bind; 0 picks a free one (default 8080).")
    parser.add_argument(
        "--extra-port",
        type=_port,
        action="append",
        default=[],
        metavar="PORT",
        help="Also listen on PORT (repeatable); pyc8 needs 443 for https.",
    )
    parser.add_argument(
        "--tls", action="store_true", help="Serve HTTPS/WSS with a locally generated CA (needs --cert-dir)."
    )
    parser.add_argument("--cert-dir", type=Path, help="Where --tls writes ca.pem, server.pem and server-key.pem.")
    parser.add_argument(
        "--profile",
        help=f"Region profile: {', '.join(BUILTIN_PROFILES)}, or a TOML file (latency_ms, jitter_ms, service_rate).",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help="Inject a fault (repeatable): drop=F, duplicate=F, misroute=F, delay=F,ms=N, reorder=F, "
        "disconnect,every=5s, skew=F[,consumer=NAME].",
    )
    parser.add_argument("--fault-seed", type=int, help="Seed for the fault and jitter choices (default: random).")
    parser.add_argument("--truth-log", type=Path, help="Write every injected fault as a JSON line here.")
    parser.add_argument(
        "--round-robin-batch", type=_positive, default=20, help="Shared dispatch chunk size (default 20)."
    )
    parser.add_argument(
        "--backlog-cap",
        type=_positive,
        default=2_000_000,
        help="Messages a topic may hold before publishes get send-error:8 (default 2000000).",
    )
    parser.add_argument(
        "--backlog-bytes",
        type=_byte_count,
        default=1 << 30,
        help="Bytes of stored messages a topic may hold before publishes get send-error:8 (default 1073741824).",
    )
    parser.add_argument("--require-auth", action="store_true", help="Require credentials on plain /ws/v2/ sockets too.")
    parser.add_argument(
        "--queue-model",
        choices=QUEUE_MODELS,
        default="proxy",
        help="proxy (default): the WebSocket proxy's own consumer prefetches receiverQueueSize and pushes while "
        "fewer than that are unacked, so a socket may hold 2 x receiverQueueSize at the broker; direct: one layer.",
    )
    parser.add_argument(
        "--pulsar-version",
        choices=PULSAR_VERSIONS,
        default="2.8",
        help="2.8 (default, what GDN runs): a departed consumer's messages reach the others with redeliveryCount "
        "+ 1; 2.11: unchanged.",
    )
    parser.add_argument(
        "--timers",
        choices=TIMER_MODELS,
        default="client",
        help="client (default): nacks come back on the Java client's delay/3 ticks, ack timeouts on 1 s ticks; "
        "exact: to the millisecond.",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from harness.emulator.process import run as serve
    from harness.emulator.server import EmulatorOptions

    if args.tls != (args.cert_dir is not None):
        raise HarnessError("--tls and --cert-dir DIR go together")
    options = EmulatorOptions(
        host=args.host,
        port=args.port,
        extra_ports=args.extra_port,
        cert_dir=args.cert_dir,
        profile=checked_profile(load_profile(args.profile)) if args.profile else None,
        faults=[parse_fault(spec) for spec in args.fault],
        fault_seed=args.fault_seed,
        truth_log=args.truth_log,
        round_robin_batch=args.round_robin_batch,
        max_backlog_messages=args.backlog_cap,
        max_backlog_bytes=args.backlog_bytes,
        required_key=os.environ.get(API_KEY_ENV) or None,
        required_password=os.environ.get(PASSWORD_ENV) or None,
        require_auth=args.require_auth,
        queue_model=args.queue_model,
        pulsar_version=args.pulsar_version,
        timers=args.timers,
    )
    return serve(options)
