"""Locust entry point: the harness's users and shape, with its options and listeners registered explicitly.

locust -f locustfile.py --headless --target emulator --duration 30
"""

from locust import events

from harness.load import plugin
from harness.load.consumer import Consumer
from harness.load.producer import Producer
from harness.load.shape import StreamShape

plugin.register(events)

__all__ = ["Consumer", "Producer", "StreamShape"]
