"""Which of this run's messages were published and which acknowledged: what the drain waits for.

Counting acks is not enough: a message acknowledged twice (after a redelivery), or a leftover of
an earlier run, would make ``acked >= published`` true while some of this run's messages are still
unacknowledged. So every process reports, with each status, the sequence numbers newly published
and newly acknowledged per producer (:class:`SeqDeltas`), and the master (or the only process) folds
them into a :class:`DrainLedger`: distinct messages, exact across workers, one bit per message.
"""

from __future__ import annotations

from typing import Any


class SeqSet:
    """Distinct non-negative integers (a producer's sequence numbers), as a growable bitmap."""

    __slots__ = ("_bits", "count")

    def __init__(self) -> None:
        self._bits = bytearray()
        self.count = 0

    def add(self, n: int) -> bool:
        """Add ``n``; True when it was not there yet."""
        index, bit = n >> 3, 1 << (n & 7)
        bits = self._bits
        if index >= len(bits):
            bits.extend(bytes(max(index + 1 - len(bits), len(bits))))  # at least doubles: amortised O(1)
        if bits[index] & bit:
            return False
        bits[index] |= bit
        self.count += 1
        return True

    def __contains__(self, n: int) -> bool:
        index = n >> 3
        return index < len(self._bits) and bool(self._bits[index] & (1 << (n & 7)))


class SeqDeltas:
    """One process's newly published and newly acknowledged sequence numbers, per producer, since the last take."""

    __slots__ = ("acked", "published")

    def __init__(self) -> None:
        self.published: dict[str, list[int]] = {}
        self.acked: dict[str, list[int]] = {}

    def publish(self, producer: str, seq: int) -> None:
        seqs = self.published.get(producer)
        if seqs is None:
            seqs = self.published[producer] = []
        seqs.append(seq)

    def ack(self, uid: str) -> None:
        """An ack of this run's message ``uid`` (``<producer>/<seq>``)."""
        producer, _, seq = uid.rpartition("/")
        seqs = self.acked.get(producer)
        if seqs is None:
            seqs = self.acked[producer] = []
        seqs.append(int(seq))

    def take(self) -> dict[str, Any]:
        """What was added since the last take, as plain data for a status message."""
        taken = {"published": self.published, "acked": self.acked}
        self.published, self.acked = {}, {}
        return taken


class DrainLedger:
    """Every process's deltas folded together: how many published messages are not yet acknowledged."""

    def __init__(self) -> None:
        self._published: dict[str, SeqSet] = {}
        self._acked: dict[str, SeqSet] = {}
        self.published = 0
        self.settled = 0  # published and acknowledged

    def fold(self, deltas: dict[str, Any]) -> None:
        for producer, seqs in (deltas.get("published") or {}).items():
            mine, other = self._sets(producer)
            self._add(mine, other, seqs, count_published=True)
        for producer, seqs in (deltas.get("acked") or {}).items():
            other, mine = self._sets(producer)
            self._add(mine, other, seqs, count_published=False)

    def _sets(self, producer: str) -> tuple[SeqSet, SeqSet]:
        published = self._published.get(producer)
        if published is None:
            published = self._published[producer] = SeqSet()
            self._acked[producer] = SeqSet()
        return published, self._acked[producer]

    def _add(self, mine: SeqSet, other: SeqSet, seqs: list[int], count_published: bool) -> None:
        for seq in seqs:
            if mine.add(int(seq)):
                if count_published:
                    self.published += 1
                if int(seq) in other:
                    self.settled += 1

    @property
    def unsettled(self) -> int:
        """Published messages of this run that no consumer has acknowledged yet."""
        return self.published - self.settled
