// Deletes records with kafkajs's admin client (DeleteRecords) and reports the
// offsets kafkajs sees afterwards (ListOffsets).
// Argument: {brokers, topic, partitions: [{partition, offset}]} (offset as a string; "-1": up to the high watermark)
// Output: {"event": "deleted", "offsets": {p: {low, high}}}
'use strict'

const { args, client, emit, deadline } = require('./common')

async function main() {
  const a = args()
  deadline(a.timeoutMs || 30000, 'delete records')
  const admin = client(a, 'keel-kafkajs-admin').admin()
  await admin.connect()
  // kafkajs finds the partitions' leaders in metadata it must have loaded first.
  await admin.fetchTopicMetadata({ topics: [a.topic] })
  await admin.deleteTopicRecords({ topic: a.topic, partitions: a.partitions })
  const offsets = {}
  for (const o of await admin.fetchTopicOffsets(a.topic)) {
    offsets[o.partition] = { low: Number(o.low), high: Number(o.high) }
  }
  await admin.disconnect()
  emit({ event: 'deleted', offsets })
}

main().catch((e) => {
  process.stderr.write('delete records failed: ' + (e.stack || e) + '\n')
  process.exit(1)
})
