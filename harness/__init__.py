"""streamharness: load tests for shared-subscription streams, with an exactly-once checker."""

__version__ = "0.1.0"
