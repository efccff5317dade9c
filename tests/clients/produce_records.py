#!/usr/bin/env python3
"""Produces the records given as JSON lines on stdin with confluent-kafka (librdkafka):
{"topic": ..., "partition": n, "key": str|null, "value": str|null, "ts": ms|null}.
Waits for every delivery; prints {"produced": n} on success and exits non-zero on error.

    produce_records.py --bootstrap host:port < records.jsonl
"""

import argparse
import json
import sys

from confluent_kafka import Producer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    a = ap.parse_args()
    p = Producer({"bootstrap.servers": a.bootstrap, "acks": "all", "linger.ms": 5,
                  "message.timeout.ms": 60000})
    errors = []

    def delivered(err, _msg):
        if err is not None:
            errors.append(str(err))

    n = 0
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        r = json.loads(line)
        kwargs = {"partition": r.get("partition", 0), "on_delivery": delivered}
        if r.get("ts") is not None:
            kwargs["timestamp"] = r["ts"]
        key = r.get("key")
        value = r.get("value")
        p.produce(r["topic"], value=None if value is None else value.encode(),
                  key=None if key is None else key.encode(), **kwargs)
        p.poll(0)
        n += 1
    left = p.flush(60)
    if left or errors:
        sys.stderr.write(f"error: {left} undelivered, errors: {errors[:3]}\n")
        sys.exit(1)
    print(json.dumps({"produced": n}))


if __name__ == "__main__":
    main()
