#!/usr/bin/env node
// kafkajs against weir: produce, group-consume, create a topic. Same command line and JSON
// lines as the Python scripts (see common.py); kafkajs is found through NODE_PATH
// (WEIR_NODE_PATH). kafkajs compresses with gzip natively and snappy through kafkajs-snappy.
'use strict';

const fs = require('fs');
const { Kafka, CompressionTypes, CompressionCodecs, logLevel } = require('kafkajs');

const USAGE = `usage:
  kafkajs_client.js produce --bootstrap H:P --topic T --count N [--tag S] [--start I]
                            [--compression none|gzip|snappy] [--no-idempotence]
  kafkajs_client.js consume --bootstrap H:P --topic T --group G [--max N] [--slow-file F]
                            [--session-timeout-ms MS]
  kafkajs_client.js create-topic --bootstrap H:P --topic T --partitions N`;

function parseArgs(argv) {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h') {
    console.log(USAGE);
    process.exit(cmd ? 0 : 2);
  }
  const a = { cmd, tag: 'm', start: 0, compression: 'none', max: 0, sessionTimeoutMs: 6000 };
  for (let i = 0; i < rest.length; i++) {
    const flag = rest[i];
    const camel = flag.replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (flag === '--no-idempotence') {
      a.noIdempotence = true;
    } else if (flag.startsWith('--') && i + 1 < rest.length) {
      a[camel] = rest[++i];
    } else {
      fail(`unexpected argument ${flag}\n${USAGE}`);
    }
  }
  for (const n of ['start', 'count', 'max', 'partitions', 'sessionTimeoutMs']) {
    if (a[n] !== undefined) a[n] = Number(a[n]);
  }
  if (!a.bootstrap || !a.topic) fail(`--bootstrap and --topic are required\n${USAGE}`);
  return a;
}

function fail(msg) {
  process.stderr.write(`error: ${msg}\n`);
  process.exit(1);
}

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function message(tag, i) {
  return {
    key: Buffer.from(`key-${i % 37}`),
    value: Buffer.from(`${tag}-${i}-` + 'x'.repeat(i % 41)),
    headers: { seq: Buffer.from(String(i)), bin: Buffer.from([i % 256, 0, 255]) },
  };
}

function client(a) {
  return new Kafka({
    clientId: 'weir-test-kafkajs',
    brokers: [a.bootstrap],
    logLevel: logLevel.WARN,
    // kafkajs logs to stdout by default; stdout carries the JSON lines.
    logCreator: () => ({ level, log }) => {
      process.stderr.write(`kafkajs ${level} ${JSON.stringify(log)}\n`);
    },
  });
}

// Producers and consumers alike need the codec (a consumer decompresses fetched batches).
CompressionCodecs[CompressionTypes.Snappy] = require('kafkajs-snappy');

async function produce(a) {
  const codec = {
    none: CompressionTypes.None,
    gzip: CompressionTypes.GZIP,
    snappy: CompressionTypes.Snappy,
  }[a.compression];
  if (codec === undefined) fail(`compression ${a.compression} is not wired up for kafkajs`);
  const idempotent = !a.noIdempotence;
  const producer = client(a).producer({ idempotent, maxInFlightRequests: idempotent ? 1 : 5 });
  await producer.connect();
  // Chunks keep each request small; kafkajs reports one base offset per partition per send.
  for (let s = a.start; s < a.start + a.count; s += 500) {
    const messages = [];
    for (let i = s; i < Math.min(s + 500, a.start + a.count); i++) messages.push(message(a.tag, i));
    await producer.send({ topic: a.topic, acks: -1, compression: codec, messages });
  }
  await producer.disconnect();
  emit({ event: 'produced', count: a.count });
}

async function consume(a) {
  if (!a.group) fail('kafkajs consumes only in a group: --group is required');
  const consumer = client(a).consumer({
    groupId: a.group,
    sessionTimeout: a.sessionTimeoutMs,
    heartbeatInterval: 1000,
  });
  let seen = 0;
  let stopping = false;
  const stop = async (code) => {
    if (stopping) return;
    stopping = true;
    await consumer.disconnect();
    emit({ event: 'closed', consumed: seen });
    process.exit(code);
  };
  process.on('SIGTERM', () => stop(0));
  process.on('SIGINT', () => stop(0));
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    const parts = e.payload.memberAssignment[a.topic] || [];
    emit({ event: 'assigned', partitions: [...parts].sort((x, y) => x - y) });
  });
  consumer.on(consumer.events.CRASH, (e) => {
    process.stderr.write(`kafkajs consumer crashed: ${e.payload.error}\n`);
    // kafkajs restarts after retriable errors; otherwise the consumer is gone for good.
    if (!e.payload.restart) stop(1);
  });
  await consumer.connect();
  await consumer.subscribe({ topics: [a.topic], fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      let last = null;
      const commit = async () => {
        const offset = String(last + 1);
        try {
          await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset }]);
          emit({ event: 'committed', offsets: [[batch.partition, last + 1]] });
        } catch (e) {
          // A rebalance between fetch and commit: the records above may be redelivered.
          emit({ event: 'commit_failed', error: String(e) });
        }
      };
      for (const m of batch.messages) {
        if (!isRunning() || isStale() || stopping) break;
        const h = Object.entries(m.headers || {}).map(([k, v]) => [k, Buffer.from(v).toString('hex')]);
        emit({
          p: batch.partition,
          o: Number(m.offset),
          k: m.key === null ? null : m.key.toString(),
          v: m.value === null ? null : m.value.toString(),
          h,
        });
        resolveOffset(m.offset);
        last = Number(m.offset);
        seen += 1;
        if (a.slowFile && fs.existsSync(a.slowFile)) {
          // Slow mode commits record by record, so a crash leaves a known tail.
          await new Promise((r) => setTimeout(r, 50));
          await commit();
          await heartbeat();
        }
      }
      if (last === null) return;
      await commit();
      await heartbeat();
      if (a.max > 0 && seen >= a.max) setImmediate(() => stop(0));
    },
  });
}

async function createTopic(a) {
  const admin = client(a).admin();
  await admin.connect();
  await admin.createTopics({
    topics: [{ topic: a.topic, numPartitions: a.partitions, replicationFactor: 1 }],
    waitForLeaders: true,
  });
  const md = await admin.fetchTopicMetadata({ topics: [a.topic] });
  await admin.disconnect();
  emit({ event: 'created', partitions: md.topics[0].partitions.length });
}

const a = parseArgs(process.argv.slice(2));
const run = { produce, consume, 'create-topic': createTopic }[a.cmd];
if (!run) fail(`unknown command ${a.cmd}\n${USAGE}`);
run(a).catch((e) => fail(e && e.stack ? e.stack : String(e)));
