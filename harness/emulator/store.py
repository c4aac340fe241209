"""A topic's message log, kept compactly in memory.

Entries are numbered from 0 and never renumbered; a message id is derived from the topic's ledger
number and the entry number, so nothing per message is stored beyond its pre-serialised fragment
(and its key, for the few messages that have one). Entries every durable subscription has
acknowledged are trimmed from the front.
"""

from __future__ import annotations

import base64
from typing import Final

from harness import wire
from harness.wire import Topic

#: Physically drop a trimmed prefix once it is at least this long (and half the list).
_COMPACT_AT: Final = 4096


class TopicLog:
    """The retained entries of one topic, from ``first`` (inclusive) to ``end`` (exclusive)."""

    __slots__ = ("topic", "ledger", "_frags", "_base", "first", "keys", "retained_bytes", "_id_prefix")

    def __init__(self, topic: Topic, ledger: int) -> None:
        self.topic = topic
        self.ledger = ledger
        self._frags: list[bytes] = []
        self._base = 0  # entry number of self._frags[0]
        self.first = 0  # lowest retained entry
        self.keys: dict[int, str] = {}  # ordering keys of keyed messages only
        self.retained_bytes = 0
        self._id_prefix = wire.message_id_prefix(ledger)

    @property
    def end(self) -> int:
        """The entry number the next message gets."""
        return self._base + len(self._frags)

    def __len__(self) -> int:
        return self.end - self.first

    def append(self, fragment: bytes, key: str | None = None) -> int:
        entry = self._base + len(self._frags)
        self._frags.append(fragment)
        self.retained_bytes += len(fragment)
        if key is not None:
            self.keys[entry] = key
        return entry

    def fragment(self, entry: int) -> bytes:
        return self._frags[entry - self._base]

    def message_id(self, entry: int) -> bytes:
        """Base64 of protobuf ``MessageIdData{ledgerId, entryId}``: what clients echo back."""
        return base64.b64encode(self._id_prefix + wire.varint(entry))  # wire.message_id, prefix cached

    def trim(self, keep_from: int) -> None:
        """Forget every entry below ``keep_from``."""
        keep_from = min(keep_from, self.end)
        old = self.first
        if keep_from <= old:
            return
        frags, base = self._frags, self._base
        self.retained_bytes -= sum(len(frags[i]) for i in range(old - base, keep_from - base))
        if self.keys:
            for entry in range(old, keep_from):
                self.keys.pop(entry, None)
        self.first = keep_from
        dead = keep_from - base
        if dead >= _COMPACT_AT and dead * 2 >= len(frags):
            del frags[:dead]
            self._base = keep_from
        else:
            for i in range(old - base, dead):
                frags[i] = b""
