// kafkajs on a secured listener (tests/integration/test_kafkajs_security.py):
// TLS with the test CA, and SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) inside it.
// Argument: {brokers, ca: PEM text,
//            refusals: [{mechanism, username, password}],   tried first, one by one
//            runs: [{sasl: {mechanism, username, password}, topic, n}]}   then all at once
// Output, one line: {"event": "done",
//   "refused": [{name, type, message} | {name: null} when it got in],
//   "runs": [{values: [...]}]}: each run produced n records (acks=all) and read
// them back with a consumer group.
'use strict'

const { Kafka, logLevel } = require('kafkajs')
const { args, emit, deadline } = require('./common')

const stderrLogger = () => ({ namespace, label, log }) => {
  process.stderr.write(`[${label}] ${namespace}: ${log.message}\n`)
}

function kafka(a, sasl) {
  return new Kafka({
    clientId: 'keel-kafkajs-security',
    brokers: a.brokers,
    ssl: { ca: [a.ca], servername: 'localhost' },
    sasl,
    logLevel: logLevel.INFO,
    logCreator: stderrLogger,
    // The group coordinator needs __consumer_offsets, created at the first lookup.
    retry: { retries: 10, initialRetryTime: 300 },
    connectionTimeout: 5000,
    requestTimeout: 10000,
  })
}

async function refusal(a, sasl) {
  const producer = kafka(a, sasl).producer()
  try {
    await producer.connect()
  } catch (e) {
    return { name: e.name, type: e.type || null, message: String(e.message) }
  }
  await producer.disconnect()
  return { name: null }
}

async function run(a, r) {
  const k = kafka(a, r.sasl)
  const producer = k.producer()
  await producer.connect()
  const messages = []
  for (let i = 0; i < r.n; i++) messages.push({ value: `js-${i}` })
  await producer.send({ topic: r.topic, acks: -1, messages })
  await producer.disconnect()

  const consumer = k.consumer({ groupId: 'g-' + r.topic })
  await consumer.connect()
  await consumer.subscribe({ topic: r.topic, fromBeginning: true })
  const values = []
  await new Promise((resolve, reject) => {
    consumer.on(consumer.events.CRASH, (e) => reject(e.payload.error))
    consumer.run({
      eachMessage: async ({ message }) => {
        values.push(message.value.toString())
        if (values.length >= r.n) resolve()
      },
    })
  })
  await consumer.disconnect()
  return { values }
}

async function main() {
  const a = args()
  deadline(a.timeoutMs || 60000, 'secured produce and consume')
  const refused = []
  for (const sasl of a.refusals || []) refused.push(await refusal(a, sasl))
  const runs = await Promise.all((a.runs || []).map((r) => run(a, r)))
  emit({ event: 'done', refused, runs })
}

main().catch((e) => {
  process.stderr.write('sec_kafkajs failed: ' + (e.stack || e) + '\n')
  process.exit(1)
})
