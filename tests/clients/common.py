"""What every Python client script shares: the generated messages and the JSON lines.

Message i of a run is fully determined by (tag, i), so the Rust test can check what came
back without reading what went in: key `key-<i % 37>`, value `<tag>-<i>-` plus i % 41
`x`s, headers `seq` (i in decimal) and `bin` (three bytes, one of them zero).
"""

import argparse
import json
import signal
import sys


def message(tag, i):
    key = f"key-{i % 37}".encode()
    value = (f"{tag}-{i}-" + "x" * (i % 41)).encode()
    headers = [("seq", str(i).encode()), ("bin", bytes([i % 256, 0, 255]))]
    return key, value, headers


def emit(obj):
    """One JSON object per line on stdout, flushed at once: the test reads it live."""
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def record_line(partition, offset, key, value, headers):
    emit(
        {
            "p": partition,
            "o": offset,
            "k": None if key is None else key.decode("utf-8", "backslashreplace"),
            "v": None if value is None else value.decode("utf-8", "backslashreplace"),
            "h": [[name, (val or b"").hex()] for name, val in (headers or [])],
        }
    )


def fail(msg):
    sys.stderr.write(f"error: {msg}\n")
    sys.exit(1)


class Stop:
    """Set by SIGTERM/SIGINT: the consumer loop finishes its batch, commits and closes."""

    def __init__(self):
        self.requested = False
        signal.signal(signal.SIGTERM, self._set)
        signal.signal(signal.SIGINT, self._set)

    def _set(self, *_):
        self.requested = True


def parser(description):
    """The command line every client script takes (kafkajs_client.js mirrors it)."""
    p = argparse.ArgumentParser(description=description)
    sub = p.add_subparsers(dest="cmd", required=True)

    prod = sub.add_parser("produce", help="produce generated keyed messages with headers")
    prod.add_argument("--bootstrap", required=True)
    prod.add_argument("--topic", required=True)
    prod.add_argument("--tag", default="m", help="value prefix, tells runs apart")
    prod.add_argument("--start", type=int, default=0, help="index of the first message")
    prod.add_argument("--count", type=int, required=True)
    prod.add_argument("--compression", default="none", help="none, gzip, snappy, lz4, zstd")
    prod.add_argument("--no-idempotence", action="store_true")

    cons = sub.add_parser(
        "consume",
        help="consume in a group, commit after each batch, print one JSON line per record",
    )
    cons.add_argument("--bootstrap", required=True)
    cons.add_argument("--topic", required=True)
    cons.add_argument(
        "--group", help="consumer group; without it, read every partition from the start (assign)"
    )
    cons.add_argument("--max", type=int, default=0, help="exit after this many records (0: on SIGTERM)")
    cons.add_argument("--slow-file", help="while this file exists, sleep 50 ms per record")
    cons.add_argument("--session-timeout-ms", type=int, default=6000)

    create = sub.add_parser("create-topic", help="create a topic with the admin API")
    create.add_argument("--bootstrap", required=True)
    create.add_argument("--topic", required=True)
    create.add_argument("--partitions", type=int, required=True)
    return p
