// A compacted topic and three sends: keyed records, then one batch with a
// record without a key at indexes 1 and 3 (Kafka rejects the batch and names the
// record: KIP-467's record errors in the Produce response), then keyed
// records again; a consumer reads back what was stored.
// Input (JSON on stdin): {brokers, topic}
// Output: {"event": "result", before, mixed: {errorIds, recordErrors, errorMessages}, after, records}
'use strict'

const { kafka, args, emit, deadline, base, recordOf, sleep, createTopic, produce, fail } = require('./pk_common')

// What a failed send says: the protocol error names, and the partition
// responses' record errors and error messages as the client decoded them.
function describeError(e) {
  const ids = []
  const recordErrors = []
  const errorMessages = []
  const seen = new Set()
  const walk = (x) => {
    if (!x || typeof x !== 'object' || seen.has(x)) return
    seen.add(x)
    if (x.apiId) ids.push(x.apiId)
    if (Array.isArray(x.recordErrors)) for (const r of x.recordErrors) recordErrors.push({ batchIndex: r.batchIndex, message: r.batchIndexErrorMessage })
    if (typeof x.errorMessage === 'string' && x.errorMessage) errorMessages.push(x.errorMessage)
    for (const v of Object.values(x)) if (v && typeof v === 'object') walk(v)
    for (const inner of x.errors || []) walk(inner)
    walk(x.response)
    walk(x.cause)
  }
  walk(e)
  return { errorIds: [...new Set(ids)], recordErrors, errorMessages: [...new Set(errorMessages)] }
}

async function main() {
  const a = args()
  deadline(a.timeoutMs || 60000, 'rejected record')
  await createTopic(a, a.topic, 1, [{ name: 'cleanup.policy', value: 'compact' }])
  const msgs = (tag, n, nullAt) => Array.from({ length: n }, (_, i) => ({ key: nullAt.includes(i) ? null : 'k' + i, value: tag + '-' + i, partition: 0 }))
  const options = { retries: 0 }
  const before = await produce(a, a.topic, msgs('before', 5, []), options)
  let mixed
  try {
    const sent = await produce(a, a.topic, msgs('mixed', 5, [1, 3]), options)
    mixed = { accepted: sent.sends }
  } catch (e) {
    mixed = describeError(e)
  }
  const after = await produce(a, a.topic, msgs('after', 3, []), options)

  const consumer = new kafka.Consumer({ ...base(a, 'keel-platformatic-reader'), groupId: 'reader-' + process.pid, deserializers: kafka.stringDeserializers, maxWaitTime: 300 })
  const stream = await consumer.consume({ topics: [a.topic], mode: kafka.MessagesStreamModes.EARLIEST, autocommit: false })
  const records = []
  let done
  const all = new Promise((resolve) => (done = resolve))
  stream.on('data', (msg) => {
    records.push(recordOf(msg))
    if (records.length === 8) done()
  })
  await Promise.race([all, new Promise((resolve) => setTimeout(resolve, 15000).unref())])
  await sleep(500)
  await stream.close()
  await consumer.close()
  emit({ event: 'result', before: before.sends, mixed, after: after.sends, records })
}

main().catch(fail('rejected record'))
