"""Locust entry point: the harness's users, with its options and listeners registered explicitly.

locust -f locustfile.py --headless -u 4 --target emulator --duration 30
"""

from locust import events

from harness.load import plugin
from harness.load.users import Consumer, Producer

plugin.register(events)

__all__ = ["Consumer", "Producer"]
