#!/usr/bin/env python3
"""confluent-kafka (librdkafka) against weir: produce, group-consume, create a topic.

Run with the venv's python (WEIR_PY_CONFLUENT); output is JSON lines, see common.py.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Stop, emit, fail, message, parser, record_line  # noqa: E402

from confluent_kafka import (  # noqa: E402
    OFFSET_BEGINNING,
    Consumer,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402


def produce(a):
    conf = {
        "bootstrap.servers": a.bootstrap,
        "client.id": "weir-test-confluent",
        "acks": "all",
        "enable.idempotence": not a.no_idempotence,
        "compression.type": a.compression,
        "linger.ms": 20,
        "message.timeout.ms": 60000,
    }
    p = Producer(conf)
    errors = []

    def delivered(err, msg):
        if err is not None:
            errors.append(f"{msg.key()!r}: {err}")
        else:
            emit({"event": "delivered", "p": msg.partition(), "o": msg.offset(), "v": msg.value().decode()})

    for i in range(a.start, a.start + a.count):
        key, value, headers = message(a.tag, i)
        while True:
            try:
                p.produce(a.topic, value=value, key=key, headers=headers, on_delivery=delivered)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    left = p.flush(90)
    if left:
        fail(f"{left} messages still undelivered after 90 s")
    if errors:
        fail(f"{len(errors)} delivery errors, first: {errors[0]}")
    emit({"event": "produced", "count": a.count})


def consume(a):
    stop = Stop()
    c = Consumer(
        {
            "bootstrap.servers": a.bootstrap,
            "client.id": "weir-test-confluent",
            # librdkafka wants a group.id even for assign(); nothing is committed then.
            "group.id": a.group or "weir-test-unused",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": a.session_timeout_ms,
            "heartbeat.interval.ms": 1000,
        }
    )

    def assigned(_c, parts):
        emit({"event": "assigned", "partitions": sorted(tp.partition for tp in parts)})

    def revoked(_c, parts):
        emit({"event": "revoked", "partitions": sorted(tp.partition for tp in parts)})

    if a.group:
        c.subscribe([a.topic], on_assign=assigned, on_revoke=revoked)
    else:
        parts = sorted(c.list_topics(a.topic, timeout=30).topics[a.topic].partitions)
        c.assign([TopicPartition(a.topic, p, OFFSET_BEGINNING) for p in parts])
        emit({"event": "assigned", "partitions": parts})
    seen = 0
    while not stop.requested and (a.max == 0 or seen < a.max):
        # Slow mode reads and commits one record at a time, so a crash leaves a known tail.
        slow = bool(a.slow_file) and os.path.exists(a.slow_file)
        msgs = c.consume(num_messages=1 if slow else 200, timeout=0.5)
        if not msgs:
            continue
        nxt = {}
        for m in msgs:
            if m.error():
                # Partition EOF is off by default; anything here is a real error.
                raise KafkaException(m.error())
            record_line(m.partition(), m.offset(), m.key(), m.value(), m.headers())
            nxt[m.partition()] = m.offset() + 1
            seen += 1
            if slow:
                time.sleep(0.05)
        if not a.group:
            continue
        try:
            c.commit(offsets=[TopicPartition(a.topic, p, o) for p, o in nxt.items()], asynchronous=False)
            emit({"event": "committed", "offsets": sorted(nxt.items())})
        except KafkaException as e:
            # A rebalance between fetch and commit: the records above may be redelivered.
            emit({"event": "commit_failed", "error": str(e)})
    c.close()
    emit({"event": "closed", "consumed": seen})


def create_topic(a):
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    futures = admin.create_topics([NewTopic(a.topic, num_partitions=a.partitions, replication_factor=1)])
    futures[a.topic].result(30)
    md = admin.list_topics(a.topic, timeout=30)
    emit({"event": "created", "partitions": len(md.topics[a.topic].partitions)})


def main():
    a = parser(__doc__).parse_args()
    {"produce": produce, "consume": consume, "create-topic": create_topic}[a.cmd](a)


if __name__ == "__main__":
    main()
