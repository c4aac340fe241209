"""What happened to each message, counted from the event log. Pure functions on DataFrames."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

from harness.events import schema


@dataclass(frozen=True)
class DeliveryCounts:
    """Message counts by fate; every count is of distinct message uids."""

    sent: int
    published: int
    rejected: int
    indeterminate: int
    delivered_once: int
    delivered_more: int
    lost: int
    unexpected: int
    deliveries: int

    @property
    def violations(self) -> int:
        return self.delivered_more + self.lost + self.unexpected

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def count_delivery(events: pd.DataFrame) -> DeliveryCounts:
    """Count sent, published, delivered once or more, lost and unexpected messages."""
    kind = events["kind"]
    uid = events["uid"]
    sent = set(uid[kind == schema.SEND])
    published = set(uid[kind == schema.PUBLISH_OK])
    rejected = set(uid[kind == schema.PUBLISH_ERR])
    delivered_uids = uid[kind == schema.DELIVER]
    per_uid = delivered_uids[delivered_uids != ""].value_counts()
    delivered = set(per_uid.index)
    known = per_uid[per_uid.index.isin(sent)]
    unexpected = len(delivered - sent) + int((delivered_uids == "").sum())
    return DeliveryCounts(
        sent=len(sent),
        published=len(published & sent),
        rejected=len(rejected & sent),
        indeterminate=len(sent - published - rejected),
        delivered_once=int((known == 1).sum()),
        delivered_more=int((known > 1).sum()),
        lost=len(published - delivered),
        unexpected=unexpected,
        deliveries=len(delivered_uids),
    )
