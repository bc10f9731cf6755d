// Two @platformatic/kafka consumers in one group. The first alone takes every
// partition and reads the first half of the records, committing each one; the
// second joins, the partitions split between them, the second half is
// produced and both read until every record is in; the group's committed
// offsets are then listed through the admin client.
// Input (JSON on stdin): {brokers, topic, groupId, partitions, each, timeoutMs}
// Output: {"event": "result", firstPhase, splitReached, allRead (each phase done in time), split, joins, commitErrors, records: [{member, partition, offset, key, value, headers}], committed: {p: offset}}
'use strict'

const { kafka, args, emit, deadline, base, recordOf, sleep, createTopic, produce, fail } = require('./pk_common')

async function until(cond, ms) {
  const end = Date.now() + ms
  while (!cond() && Date.now() < end) await sleep(50)
  return cond()
}

async function main() {
  const a = args()
  deadline(a.timeoutMs || 120000, 'group')
  await createTopic(a, a.topic, a.partitions)
  const half = (tag) => Array.from({ length: a.each }, (_, i) => ({ key: 'k' + i, value: tag + '-' + i, partition: i % a.partitions }))
  await produce(a, a.topic, half('first'), { compression: 'lz4' })

  const records = []
  const assignment = {}
  const joins = []
  const commitErrors = []
  const members = []

  const start = async (m) => {
    const consumer = new kafka.Consumer({
      ...base(a, 'keel-platformatic-member-' + m),
      groupId: a.groupId,
      deserializers: kafka.stringDeserializers,
      maxWaitTime: 300,
      sessionTimeout: 10000,
      rebalanceTimeout: 15000,
      heartbeatInterval: 500,
    })
    consumer.on('consumer:group:join', (p) => {
      const mine = (p.assignments || []).filter((x) => x.topic === a.topic).flatMap((x) => x.partitions)
      assignment[m] = mine.slice().sort((x, y) => x - y)
      joins.push({ member: m, generationId: p.generationId, isLeader: p.isLeader, partitions: assignment[m] })
    })
    const stream = await consumer.consume({
      topics: [a.topic],
      mode: kafka.MessagesStreamModes.COMMITTED,
      fallbackMode: kafka.MessagesStreamFallbackModes.EARLIEST,
      autocommit: false,
    })
    const loop = (async () => {
      for await (const msg of stream) {
        records.push(recordOf(msg, { member: m }))
        try {
          await msg.commit()
        } catch (e) {
          commitErrors.push({ member: m, partition: msg.partition, offset: Number(msg.offset), error: String(e.message) })
        }
      }
    })()
    members.push({ consumer, stream, loop })
  }

  await start(0)
  const firstPhase = await until(() => records.length >= a.each, 60000)
  await start(1)
  const split = () =>
    assignment[0] && assignment[1] && assignment[0].length > 0 && assignment[1].length > 0 &&
    JSON.stringify([...assignment[0], ...assignment[1]].sort((x, y) => x - y)) ===
      JSON.stringify(Array.from({ length: a.partitions }, (_, i) => i))
  const splitReached = await until(split, 60000)
  const splitAt = { 0: assignment[0], 1: assignment[1] }
  // Let fetches the first member sent before the rebalance come back (they
  // wait up to maxWaitTime): @platformatic/kafka hands over what such a fetch
  // returns even for a partition it no longer owns, so records produced while
  // one is in flight would be read by both members.
  await sleep(a.settleMs ?? 1500)
  await produce(a, a.topic, half('second'), { compression: 'zstd' })
  const allRead = await until(() => records.length >= 2 * a.each, 60000)
  await sleep(1500) // a record delivered twice would show up
  for (const { consumer, stream } of members) {
    await stream.close()
    await consumer.close()
  }

  const admin = new kafka.Admin(base(a, 'keel-platformatic-admin'))
  const listed = await admin.listConsumerGroupOffsets({ groups: [a.groupId] })
  await admin.close()
  const committed = {}
  for (const g of listed) for (const t of g.topics) for (const p of t.partitions) committed[p.partitionIndex] = Number(p.committedOffset)
  emit({ event: 'result', firstPhase, splitReached, allRead, split: splitAt, joins, commitErrors, records, committed })
}

main().catch(fail('group'))
