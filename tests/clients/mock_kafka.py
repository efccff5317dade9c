"""librdkafka's mock Kafka cluster on loopback: a second, independent implementation of the
Kafka protocol for weir's tests (see MOCK-KAFKA.md for what it implements).

    $WEIR_PY_CONFLUENT mock_kafka.py [--brokers N] [--topic NAME:PARTITIONS]...
                                     [--rebalance-delay-ms MS] [--debug]

Prints the bootstrap address (`127.0.0.1:port,...`) on the first stdout line, then serves
until stdin closes or SIGTERM/SIGINT arrives. While it runs, each stdin line is a command
and gets one stdout line back, `ok` or `error <reason>`:

    create-topic NAME PARTITIONS [REPLICATION]   the mock has no CreateTopics API
    delete-topic NAME
    broker-down ID | broker-up ID                 close a broker's connections, refuse new ones
    coordinator group|transaction KEY BROKER_ID   pin the coordinator of a group or txn id

The mock cluster is librdkafka's `rd_kafka_mock_cluster_new`, called through ctypes on the
librdkafka that the confluent-kafka wheel bundles (2.1x), not the older system one: its mock
speaks far more API versions. `--debug` logs every request the brokers receive (API and
version) to stderr.
"""

import argparse
import ctypes
import os
import re
import signal
import sys

import confluent_kafka  # loads the bundled librdkafka into this process


def bundled_librdkafka():
    """The librdkafka shared object confluent-kafka loaded (found in our memory map)."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if re.search(r"/librdkafka[^/]*\.so", path):
                return ctypes.CDLL(path)
    sys.exit("mock_kafka: confluent-kafka did not load a librdkafka shared object")


# Versions the mock advertises but parses or answers in the wrong layout (its handlers read
# an i32 array count where the flexible versions have a compact one, or read v0's fields
# only): (API key, name, highest version that works). Capped unless --as-advertised.
BROKEN_ABOVE = [
    (11, "JoinGroup", 5),  # v6: protocols array read as i32, members written as i32
    (13, "LeaveGroup", 2),  # v3+: reads a member id where the members array is
    (14, "SyncGroup", 3),  # v4: assignments array read as i32
]


def bind(lib):
    p, c, i = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
    sigs = {
        "rd_kafka_conf_new": (p, []),
        "rd_kafka_conf_set": (i, [p, c, c, c, ctypes.c_size_t]),
        "rd_kafka_new": (p, [i, p, c, ctypes.c_size_t]),
        "rd_kafka_mock_cluster_new": (p, [p, i]),
        "rd_kafka_mock_cluster_destroy": (None, [p]),
        "rd_kafka_mock_cluster_bootstraps": (c, [p]),
        "rd_kafka_mock_topic_create": (i, [p, c, i, i]),
        "rd_kafka_mock_topic_delete": (i, [p, c]),
        "rd_kafka_mock_broker_set_down": (i, [p, ctypes.c_int32]),
        "rd_kafka_mock_broker_set_up": (i, [p, ctypes.c_int32]),
        "rd_kafka_mock_coordinator_set": (i, [p, c, c, ctypes.c_int32]),
        "rd_kafka_mock_group_initial_rebalance_delay_ms": (None, [p, ctypes.c_int32]),
        "rd_kafka_mock_set_apiversion": (i, [p, ctypes.c_int16, ctypes.c_int16, ctypes.c_int16]),
        "rd_kafka_err2name": (c, [i]),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes


class Mock:
    def __init__(self, lib, brokers, debug):
        self.lib = lib
        self.brokers = brokers
        self.replication = min(3, brokers)
        conf = lib.rd_kafka_conf_new()
        errstr = ctypes.create_string_buffer(512)
        # Warnings and errors only (the mock logs a request it cannot serve as an error),
        # or with --debug every request the brokers receive.
        settings = {"client.id": "weir-mock-kafka", "log_level": "4"}
        if debug:
            settings.update({"debug": "mock", "log_level": "7"})
        for k, v in settings.items():
            if lib.rd_kafka_conf_set(conf, k.encode(), v.encode(), errstr, 512) != 0:
                sys.exit(f"mock_kafka: {k}={v}: {errstr.value.decode()}")
        # The cluster needs a client handle to live in; a producer that never produces.
        self.rk = lib.rd_kafka_new(0, conf, errstr, 512)
        if not self.rk:
            sys.exit(f"mock_kafka: rd_kafka_new: {errstr.value.decode()}")
        self.cluster = lib.rd_kafka_mock_cluster_new(self.rk, brokers)
        if not self.cluster:
            sys.exit(f"mock_kafka: rd_kafka_mock_cluster_new({brokers}) failed")

    def bootstraps(self):
        return self.lib.rd_kafka_mock_cluster_bootstraps(self.cluster).decode()

    def check(self, err):
        if err:
            raise ValueError(self.lib.rd_kafka_err2name(err).decode())

    def command(self, words):
        lib, cl = self.lib, self.cluster
        match words:
            case ["create-topic", name, partitions]:
                self.command(["create-topic", name, partitions, str(self.replication)])
            case ["create-topic", name, partitions, replication]:
                if not 0 < int(partitions) <= 10000 or not 0 < int(replication) <= self.brokers:
                    raise ValueError(f"bad partition count or replication: {words}")
                self.check(
                    lib.rd_kafka_mock_topic_create(
                        cl, name.encode(), int(partitions), int(replication)
                    )
                )
            case ["delete-topic", name]:
                self.check(lib.rd_kafka_mock_topic_delete(cl, name.encode()))
            case ["broker-down", broker]:
                self.check(lib.rd_kafka_mock_broker_set_down(cl, int(broker)))
            case ["broker-up", broker]:
                self.check(lib.rd_kafka_mock_broker_set_up(cl, int(broker)))
            case ["coordinator", kind, key, broker]:
                self.check(
                    lib.rd_kafka_mock_coordinator_set(cl, kind.encode(), key.encode(), int(broker))
                )
            case _:
                raise ValueError(f"unknown command {' '.join(words)!r}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--brokers", type=int, default=1)
    ap.add_argument("--topic", action="append", default=[], metavar="NAME:PARTITIONS")
    ap.add_argument(
        "--rebalance-delay-ms",
        type=int,
        default=None,
        help="wait before the first rebalance of a new group (mock default 3000)",
    )
    ap.add_argument("--debug", action="store_true", help="log every request to stderr")
    ap.add_argument(
        "--as-advertised",
        action="store_true",
        help="keep the versions the mock advertises, including the broken ones (for probing)",
    )
    args = ap.parse_args()

    lib = bundled_librdkafka()
    bind(lib)
    mock = Mock(lib, args.brokers, args.debug)
    if not args.as_advertised:
        for key, name, top in BROKEN_ABOVE:
            err = lib.rd_kafka_mock_set_apiversion(mock.cluster, key, 0, top)
            if err:
                sys.exit(f"mock_kafka: cannot cap {name} at v{top}: {err}")
    if args.rebalance_delay_ms is not None:
        lib.rd_kafka_mock_group_initial_rebalance_delay_ms(mock.cluster, args.rebalance_delay_ms)
    for spec in args.topic:
        name, _, partitions = spec.rpartition(":")
        try:
            mock.command(["create-topic", name, partitions])
        except ValueError as e:
            sys.exit(f"mock_kafka: --topic {spec}: {e}")

    # Exit at once on a signal: the cluster lives in this process and dies with it.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: os._exit(0))

    print(mock.bootstraps(), flush=True)
    print(
        f"mock_kafka: librdkafka {confluent_kafka.libversion()[0]}, {args.brokers} broker(s) "
        f"at {mock.bootstraps()}",
        file=sys.stderr,
        flush=True,
    )
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        try:
            mock.command(words)
            print("ok", flush=True)
        except (ValueError, TypeError) as e:
            print(f"error {e}", flush=True)
    os._exit(0)


if __name__ == "__main__":
    main()
