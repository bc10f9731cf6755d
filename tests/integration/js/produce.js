// Produces records with kafkajs and reports where they landed.
// Argument: {brokers, topic, compression: "gzip"|"none", acks,
//            messages: [{key, value, headers: {k: v}, partition}]} (strings; null allowed)
// Output: {"event": "produced", "results": [{partition, baseOffset}], "highWatermarks": {p: hw}}
'use strict'

const { CompressionTypes, Partitioners } = require('kafkajs')
const { args, client, emit, deadline } = require('./common')

async function main() {
  const a = args()
  deadline(a.timeoutMs || 30000, 'produce')
  const kafka = client(a, 'keel-kafkajs-producer')
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false })
  await producer.connect()
  const compression = a.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None
  const messages = a.messages.map((m) => {
    const out = { key: m.key, value: m.value, headers: m.headers || {} }
    if (m.partition !== undefined) out.partition = m.partition
    if (m.timestamp !== undefined) out.timestamp = String(m.timestamp)
    return out
  })
  // One send per partition batch keeps every batch compressed as asked.
  const results = await producer.send({ topic: a.topic, compression, acks: a.acks ?? -1, messages })
  await producer.disconnect()

  const admin = kafka.admin()
  await admin.connect()
  const offsets = await admin.fetchTopicOffsets(a.topic)
  await admin.disconnect()
  const highWatermarks = {}
  for (const o of offsets) highWatermarks[o.partition] = Number(o.high)
  emit({
    event: 'produced',
    results: results.map((r) => ({ partition: r.partition, baseOffset: Number(r.baseOffset), error: r.errorCode })),
    highWatermarks,
  })
}

main().catch((e) => {
  process.stderr.write('produce failed: ' + (e.stack || e) + '\n')
  process.exit(1)
})
