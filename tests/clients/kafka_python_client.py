#!/usr/bin/env python3
"""kafka-python (pure Python, 2.x or 3.x) against weir: produce, group-consume, create a topic.

Run with the python of the venv holding the line under test (WEIR_PY_KAFKA2 or
WEIR_PY_KAFKA3); output is JSON lines, see common.py. api_version is left unset so the
client probes the broker with ApiVersions, as users' code does.
"""

import logging
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Stop, emit, fail, message, parser, record_line  # noqa: E402

import kafka  # noqa: E402
from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka.admin import KafkaAdminClient, NewTopic  # noqa: E402
from kafka.errors import CommitFailedError, KafkaError  # noqa: E402

CLIENT_ID = f"weir-test-kafka-python-{kafka.__version__}"


def produce(a):
    p = KafkaProducer(
        bootstrap_servers=a.bootstrap,
        client_id=CLIENT_ID,
        acks="all",
        enable_idempotence=not a.no_idempotence,
        compression_type=None if a.compression == "none" else a.compression,
        linger_ms=20,
        request_timeout_ms=30000,
    )
    futures = []
    for i in range(a.start, a.start + a.count):
        key, value, headers = message(a.tag, i)
        futures.append((value, p.send(a.topic, key=key, value=value, headers=headers)))
    p.flush(90)
    for value, f in futures:
        try:
            md = f.get(timeout=1)
        except KafkaError as e:
            fail(f"delivery of {value!r} failed: {e!r}")
        emit({"event": "delivered", "p": md.partition, "o": md.offset, "v": value.decode()})
    p.close()
    emit({"event": "produced", "count": a.count})


class Listener(ConsumerRebalanceListener):
    def on_partitions_revoked(self, revoked):
        emit({"event": "revoked", "partitions": sorted(tp.partition for tp in revoked)})

    def on_partitions_assigned(self, assigned):
        emit({"event": "assigned", "partitions": sorted(tp.partition for tp in assigned)})


def consume(a):
    stop = Stop()
    c = KafkaConsumer(
        bootstrap_servers=a.bootstrap,
        client_id=CLIENT_ID,
        group_id=a.group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=a.session_timeout_ms,
        heartbeat_interval_ms=1000,
    )
    if a.group:
        c.subscribe([a.topic], listener=Listener())
    else:
        parts = sorted(c.partitions_for_topic(a.topic) or [])
        if not parts:
            fail(f"no partitions for topic {a.topic}")
        tps = [TopicPartition(a.topic, p) for p in parts]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        emit({"event": "assigned", "partitions": parts})
    seen = 0
    while not stop.requested and (a.max == 0 or seen < a.max):
        # Slow mode reads and commits one record at a time, so a crash leaves a known tail.
        slow = bool(a.slow_file) and os.path.exists(a.slow_file)
        batches = c.poll(timeout_ms=500, max_records=1 if slow else 200)
        if not batches:
            continue
        nxt = {}
        for tp, records in sorted(batches.items(), key=lambda kv: kv[0].partition):
            for r in records:
                record_line(r.partition, r.offset, r.key, r.value, r.headers)
                nxt[r.partition] = r.offset + 1
                seen += 1
                if slow:
                    time.sleep(0.05)
        if not a.group:
            continue
        try:
            c.commit()  # synchronous, commits the positions of everything returned by poll
            emit({"event": "committed", "offsets": sorted(nxt.items())})
        except CommitFailedError as e:
            # A rebalance between poll and commit: the records above may be redelivered.
            emit({"event": "commit_failed", "error": str(e)})
    c.close()
    emit({"event": "closed", "consumed": seen})


def create_topic(a):
    admin = KafkaAdminClient(bootstrap_servers=a.bootstrap, client_id=CLIENT_ID)
    admin.create_topics([NewTopic(a.topic, num_partitions=a.partitions, replication_factor=1)])
    parts = None
    for t in admin.describe_topics([a.topic]):
        if t.get("topic", t.get("name")) == a.topic:  # 2.x: "topic", 3.x: "name"
            parts = len(t["partitions"])
    admin.close()
    emit({"event": "created", "partitions": parts})


def main():
    a = parser(__doc__).parse_args()
    if os.environ.get("WEIR_CLIENT_DEBUG"):
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    {"produce": produce, "consume": consume, "create-topic": create_topic}[a.cmd](a)


if __name__ == "__main__":
    main()
