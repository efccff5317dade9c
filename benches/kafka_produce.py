"""Kafka-protocol throughput and latency of a running broker, with librdkafka
(confluent-kafka), next to the raw loopback TCP bandwidth measured in the same run.

    python benches/kafka_produce.py --bootstrap 127.0.0.1:9092

Prints one table; figures, not assertions. Run by scripts/bench-kafka, which starts weir.
"""

import argparse
import os
import subprocess
import tempfile
import socket
import statistics
import struct
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def cpu_seconds(pid):
    """User + system CPU time of a process so far (from /proc)."""
    if pid is None:
        return 0.0
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def raw_tcp_mb_s(total_bytes, chunk=1 << 20):
    """Loopback TCP bandwidth: one connection, sendall of 1 MiB buffers into recv_into."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    received = [0]

    def sink():
        conn, _ = server.accept()
        buf = bytearray(chunk)
        view = memoryview(buf)
        while True:
            n = conn.recv_into(view)
            if n == 0:
                break
            received[0] += n
        conn.close()

    t = threading.Thread(target=sink)
    t.start()
    client = socket.create_connection(("127.0.0.1", port))
    payload = b"x" * chunk
    start = time.perf_counter()
    sent = 0
    while sent < total_bytes:
        client.sendall(payload)
        sent += chunk
    client.shutdown(socket.SHUT_WR)
    t.join()
    elapsed = time.perf_counter() - start
    client.close()
    server.close()
    return received[0] / 1e6 / elapsed


def create_topic(bootstrap, topic):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    for f in futures.values():
        f.result(timeout=30)


def produce_throughput(bootstrap, topic, size, count):
    p = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": 1,
            "linger.ms": 5,
            "batch.size": 1 << 20,
            "queue.buffering.max.messages": 1_000_000,
            "queue.buffering.max.kbytes": 1 << 20,
        }
    )
    value = b"v" * size
    start = time.perf_counter()
    for i in range(count):
        while True:
            try:
                p.produce(topic, value, key=str(i % 1000).encode())
                break
            except BufferError:
                p.poll(0.001)
        if i % 10_000 == 0:
            p.poll(0)
    p.flush(60)
    elapsed = time.perf_counter() - start
    return count * size / 1e6 / elapsed, count / elapsed


def kcat_produce(bootstrap, topic, size, count, workdir):
    """The same records through kcat (librdkafka in C) from a file: no Python in the loop."""
    path = os.path.join(workdir, f"kcat-{size}.txt")
    value = "v" * (size - 4)
    with open(path, "w") as f:
        for i in range(count):
            f.write(f"{i % 1000:03d}\t{value}\n")
    start = time.perf_counter()
    subprocess.run(
        ["kcat", "-b", bootstrap, "-P", "-t", topic, "-K", "\t", "-l", path,
         "-X", "linger.ms=5", "-X", "batch.size=1000000", "-X", "acks=1"],
        check=True,
    )
    elapsed = time.perf_counter() - start
    os.remove(path)
    return count * size / 1e6 / elapsed, count / elapsed


def consume_throughput(bootstrap, topic, size, count):
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-{topic}",
            "enable.auto.commit": False,
            "fetch.max.bytes": 50 << 20,
            "max.partition.fetch.bytes": 10 << 20,
        }
    )
    c.assign([TopicPartition(topic, 0, 0)])
    got = 0
    start = time.perf_counter()
    while got < count:
        # consume() waits for num_messages or the timeout: never ask for more than remain.
        msgs = c.consume(num_messages=min(10_000, count - got), timeout=5)
        if not msgs:
            break
        got += len(msgs)
    elapsed = time.perf_counter() - start
    c.close()
    return got * size / 1e6 / elapsed, got / elapsed


def latency_at_rate(bootstrap, topic, size, mb_per_s, seconds):
    """Produce at a fixed rate in 1 ms ticks (sleeping between them, so the client does
    not starve the broker of CPU); latency = produce() call to delivery report (acks=1).
    The send time travels in the first 8 bytes of each value."""
    p = Producer({"bootstrap.servers": bootstrap, "acks": 1, "linger.ms": 0})
    padding = b"v" * (size - 8)
    per_s = mb_per_s * 1e6 / size
    latencies = []

    def report(err, msg):
        if err is None:
            latencies.append(time.perf_counter() - struct.unpack("d", msg.value()[:8])[0])

    start = time.perf_counter()
    n = 0
    tick = 0.001
    next_tick = start
    while True:
        now = time.perf_counter()
        if now - start >= seconds:
            break
        due = int((now - start) * per_s)
        while n < due:
            p.produce(topic, struct.pack("d", time.perf_counter()) + padding, on_delivery=report)
            n += 1
        p.poll(0)
        next_tick += tick
        pause = next_tick - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
    p.flush(60)
    achieved = n * size / 1e6 / (time.perf_counter() - start)
    latencies.sort()
    q = statistics.quantiles(latencies, n=100)
    return achieved, q[49] * 1000, q[98] * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--mb", type=int, default=256, help="MB per throughput case")
    ap.add_argument("--latency-seconds", type=float, default=5.0)
    ap.add_argument("--pid", type=int, help="the broker's pid, to report its CPU time")
    args = ap.parse_args()

    raw = raw_tcp_mb_s(args.mb * 4 * 1_000_000)
    rows = []
    for size in (100, 1024):
        topic = f"bench-{size}-{int(time.time())}"
        create_topic(args.bootstrap, topic)
        count = args.mb * 1_000_000 // size
        cpu0 = cpu_seconds(args.pid)
        p_mb, p_rec = produce_throughput(args.bootstrap, topic, size, count)
        cpu = cpu_seconds(args.pid) - cpu0
        c_mb, c_rec = consume_throughput(args.bootstrap, topic, size, count)
        k_topic = topic + "-kcat"
        create_topic(args.bootstrap, k_topic)
        with tempfile.TemporaryDirectory() as work:
            k_mb, k_rec = kcat_produce(args.bootstrap, k_topic, size, count, work)
        rows.append((size, count, p_mb, p_rec, c_mb, c_rec, k_mb, k_rec, cpu))
    lat_topic = f"bench-latency-{int(time.time())}"
    create_topic(args.bootstrap, lat_topic)
    achieved, p50, p99 = latency_at_rate(args.bootstrap, lat_topic, 1024, 50, args.latency_seconds)

    print(f"\nraw loopback TCP (1 MiB sendall, same run): {raw:.0f} MB/s\n")
    print("record  messages | confluent-kafka (Python loop)          | kcat -P -l file (C)")
    print("                 | produce MB/s  rec/s  consume MB/s  rec/s | produce MB/s  rec/s  of raw TCP")
    for size, count, p_mb, p_rec, c_mb, c_rec, k_mb, k_rec, _ in rows:
        print(
            f"{size:>5} B {count:>9} | {p_mb:>9.1f} {p_rec:>9.0f} {c_mb:>9.1f} {c_rec:>9.0f} |"
            f" {k_mb:>9.1f} {k_rec:>9.0f} {k_mb / raw * 100:>8.1f}%"
        )
    if args.pid:
        print("\nbroker CPU while confluent-kafka produced (the clients, not weir, set the pace here):")
        for size, count, *_, cpu in rows:
            mb = count * size / 1e6
            cap = mb / cpu if cpu > 0 else float("inf")
            print(f"  {size:>5} B: {cpu:.2f} CPU-s for {mb:.0f} MB -> {cap:.0f} MB/s per broker core, {cap / raw * 100:.0f}% of raw TCP")
    print(
        f"\nproduce latency at a fixed 50 MB/s of 1 KB records (acks=1, linger.ms=0): "
        f"achieved {achieved:.1f} MB/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms"
    )
    one_kb = max(rows[1][2], rows[1][6]) / raw
    print("\ngoal: produce >= 50% of raw loopback TCP for 1 KB records:", f"{one_kb * 100:.1f}%", "PASS" if one_kb >= 0.5 else "BELOW")
    print("goal: p99 produce latency < 5 ms at 50 MB/s:", f"{p99:.2f} ms", "PASS" if p99 < 5 and achieved >= 45 else "BELOW")


if __name__ == "__main__":
    main()
