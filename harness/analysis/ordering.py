"""Per-producer order for Exclusive and Failover subscriptions, which promise it.

A uid is ``<producer>/<seq>`` and each producer sends its seqs in increasing order over one
socket, so the endpoint stores them in that order. A message whose first delivery comes after the
first delivery of a later message of the same producer is an order violation: a swap of two
neighbours counts once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from harness.analysis.eventlog import MISSING, Bools, Ints

_UID = r"^(?P<producer>.*)/(?P<seq>[0-9]{1,18})$"


@dataclass(frozen=True)
class OrderCheck:
    violations: int
    #: uid codes of the messages that arrived after a later message of their producer.
    late: Ints


def check_order(uids: pa.Array, first_deliver_ns: Ints, sent: Bools) -> OrderCheck:
    """Count order violations among the messages this run sent and that were delivered."""
    candidates = np.flatnonzero(sent & (first_deliver_ns != MISSING))
    if not len(candidates):
        return OrderCheck(0, np.zeros(0, dtype=np.int64))
    parts = pc.extract_regex(uids.take(pa.array(candidates)), _UID)
    parsed = pc.is_valid(parts).to_numpy(zero_copy_only=False)
    candidates = candidates[parsed]
    parts = parts.filter(pa.array(parsed))
    producer = pc.dictionary_encode(parts.field("producer")).indices.to_numpy(zero_copy_only=False)
    seq = parts.field("seq").cast(pa.int64()).to_numpy(zero_copy_only=False)
    order = np.argsort(first_deliver_ns[candidates], kind="stable")
    frame = pd.DataFrame({"producer": producer[order], "seq": seq[order]})
    highest_before = frame.groupby("producer")["seq"].cummax().groupby(frame["producer"]).shift(1)
    late = (frame["seq"] < highest_before).to_numpy()
    late_codes = candidates[order][late]
    return OrderCheck(int(late.sum()), np.sort(late_codes))
