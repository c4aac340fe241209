"""``streamharness emulator``: run the emulated endpoint until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("emulator", help="Run the emulated GDN / Pulsar WebSocket endpoint.")
    parser.add_argument("--host", default="127.0.0.1", help="Address to bind (default 127.0.0.1).")
    parser.add_argument("--port", type=int, default=8080, help="Port to bind; 0 picks a free one.")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from harness.emulator.process import run as serve

    return serve(args.host, args.port)
