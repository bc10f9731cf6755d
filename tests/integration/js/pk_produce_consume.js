// @platformatic/kafka produces `messages` with one codec (optionally as an
// idempotent producer), then a consumer reads every partition back from the
// earliest offset.
// Input (JSON on stdin): {brokers, topic, partitions, compression, idempotent, chunk, messages: [{key, value, headers, partition}]}
// Output: {"event": "result", sends: [[{partition, offset}]], producerId, records: [...]}
'use strict'

const { kafka, args, emit, deadline, base, recordOf, sleep, createTopic, produce, fail } = require('./pk_common')

async function main() {
  const a = args()
  deadline(a.timeoutMs || 60000, 'produce and consume')
  await createTopic(a, a.topic, a.partitions)
  const produced = await produce(a, a.topic, a.messages, {
    compression: a.compression,
    idempotent: !!a.idempotent,
  })

  const consumer = new kafka.Consumer({
    ...base(a, 'keel-platformatic-reader'),
    groupId: 'reader-' + process.pid + '-' + Date.now(),
    deserializers: kafka.stringDeserializers,
    maxWaitTime: 500,
  })
  const records = []
  const stream = await consumer.consume({ topics: [a.topic], mode: kafka.MessagesStreamModes.EARLIEST, autocommit: false })
  let done
  const all = new Promise((resolve) => (done = resolve))
  stream.on('data', (msg) => {
    records.push(recordOf(msg))
    if (records.length === a.messages.length) done()
  })
  stream.on('error', fail('consume stream'))
  await all
  await sleep(1000) // a record delivered twice would show up
  await stream.close()
  await consumer.close()
  emit({ event: 'result', sends: produced.sends, producerId: produced.producerId, records })
}

main().catch(fail('produce_consume'))
