"""The event log, schema v1: the only contract between load generation and analysis.

One CSV file per load-generating process, in ``<run-dir>/events/``. The first line names the
columns; every later line is one event, written whole and terminated by ``\\n``, so a reader can
drop a torn last line (a crash mid-write) and lose nothing else. The schema version lives in the
run folder's ``run.json`` (``schema_version``); a reader refuses versions newer than its own.
Cells are CSV: a ``detail`` holding a comma, a quote or a newline is quoted (then one event may
span lines). A reader skips and counts, per file, every row that is not one record of these
columns and types (a number that is not a whole int64, a wrong cell count, an unknown kind, a
quote that never closes, a NUL byte, bytes that are not UTF-8) and every row whose ``t_ns`` is
not believable for the run; it keeps every other row.

Columns (empty cell = not applicable):

``t_ns``
    Wall-clock time of the event, integer nanoseconds since the Unix epoch (``time.time_ns()``).
    Comparable across processes on one host; across hosts after the per-worker clock offset in
    ``run.json`` is applied.
``kind``
    What happened, one of :data:`KINDS`:
    ``send`` a producer wrote a message to its socket; ``publish_ok`` / ``publish_err`` the
    endpoint acknowledged or refused that publish; ``deliver`` a consumer received a message;
    ``ack`` / ``nack`` the consumer acknowledged or negatively acknowledged it; ``connect`` /
    ``disconnect`` a producer's or consumer's socket opened or closed; ``error`` anything that went
    wrong outside a single message (the text is in ``detail``).
``actor``
    The producer or consumer that saw the event, unique across workers: ``<worker>-p<n>`` for
    producers, ``<worker>-c<n>`` for consumers.
``uid``
    The harness's own identity of a message, ``<producer>/<seq>``, stamped into the message by the
    producer together with the run id. Empty for connect, disconnect and error rows; for a delivery
    (and the ack that settles it) of a message this run did not send (no uid, or another run's id)
    it is empty and the delivery's ``detail`` says what the message was.
``msg_id``
    The endpoint's message id (opaque, echoed back in acks). Set on publish_ok, deliver, ack, nack.
``intended_ns``
    On ``send``: when the pacing schedule meant the message to go out, wall-clock ns. The gap to
    ``t_ns`` is the generator's schedule lag; latency from it is corrected for coordinated omission.
``redelivery``
    On ``deliver``: the endpoint's ``redeliveryCount`` (0 on a first delivery).
``size``
    Payload bytes (before base64) on send and deliver.
``detail``
    Free text: the endpoint's error on publish_err, the close code or reason on disconnect, the
    error text on error, the subscription type on a consumer's connect.
"""

from __future__ import annotations

from typing import Final

SCHEMA_VERSION: Final = 1

COLUMNS: Final = ("t_ns", "kind", "actor", "uid", "msg_id", "intended_ns", "redelivery", "size", "detail")

SEND: Final = "send"
PUBLISH_OK: Final = "publish_ok"
PUBLISH_ERR: Final = "publish_err"
DELIVER: Final = "deliver"
ACK: Final = "ack"
NACK: Final = "nack"
CONNECT: Final = "connect"
DISCONNECT: Final = "disconnect"
ERROR: Final = "error"

KINDS: Final = (SEND, PUBLISH_OK, PUBLISH_ERR, DELIVER, ACK, NACK, CONNECT, DISCONNECT, ERROR)

#: Message properties the producer stamps; consumers read them back from each delivery.
PROP_RUN: Final = "sh-run"  # the run id: a durable subscription may still hold an earlier run's messages
PROP_UID: Final = "sh-uid"
PROP_SENT_NS: Final = "sh-sent-ns"
PROP_INTENDED_NS: Final = "sh-intended-ns"

EVENTS_DIR: Final = "events"
RUN_JSON: Final = "run.json"

#: Schedule lag (actual minus intended send time), ms, beyond which a send is late. A generator is
#: saturated when its sends stay late: in each of SATURATION_SUSTAINED_S consecutive seconds, more
#: than SATURATION_LATE_SHARE of the sends due over this line (harness.events.saturation.lag_is_sustained). A run
#: so marked ends with a warning that the generator was the bottleneck, and a capacity stage so
#: marked claims nothing about the endpoint. One stall (a busy machine) late-sends a moment's
#: messages, enough to move a short run's p99, but not seconds' worth: it is not saturation.
SATURATION_LAG_MS: Final = 10.0
SATURATION_LATE_SHARE: Final = 0.5
SATURATION_SUSTAINED_S: Final = 3
#: Likewise a generator process that used more than this much of its core (Locust's own warning line)
#: in each of SATURATION_SUSTAINED_S seconds in a row.
SATURATION_CPU_PERCENT: Final = 90.0
#: Seconds a producer or consumer may stay cut off from the endpoint (socket dropped, connects
#: failing) before the run is marked incomplete with an ``endpoint_lost`` record in run.json.
ENDPOINT_LOST_BOUND_S: Final = 5.0
