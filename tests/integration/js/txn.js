// kafkajs transactions against keel, in three phases:
//   1. `rounds` transactions of a transactional producer over both partitions
//      of `output`, committed and aborted alternately (even rounds commit);
//   2. a transaction with records and sendOffsets for `groupId`, aborted: the
//      group's offsets must not move;
//   3. consume-transform-produce: a read_committed consumer of `input` in
//      `groupId`; per fetched batch one transaction sends the records,
//      prefixed "t-", to `output` and commits the consumed offsets with
//      sendOffsets, until `inputCount` records are done.
// Argument: {brokers, input, output, groupId, transactionalId, rounds, perRound, inputCount, timeoutMs}
// Output, one JSON line each:
//   {"event": "phase1", committed: [value...], aborted: [value...]}
//   {"event": "phase2", aborted: [value...], offsetsAfterAbort: {partition: offset}}
//   {"event": "done", transformed: [value...], transactions: n, offsets: {partition: offset}}
// Values are strings.
'use strict'

const { args, client, emit, deadline } = require('./common')

async function groupOffsets(admin, groupId, topic) {
  const fetched = await admin.fetchOffsets({ groupId, topics: [topic] })
  const out = {}
  for (const t of fetched) {
    for (const p of t.partitions) out[p.partition] = Number(p.offset)
  }
  return out
}

async function main() {
  const a = args()
  deadline(a.timeoutMs || 60000, 'kafkajs transactions')
  const kafka = client(a, 'keel-kafkajs-txn')
  const producer = kafka.producer({ transactionalId: a.transactionalId, idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  const admin = kafka.admin()
  await admin.connect()

  // 1. Commits and aborts over two partitions.
  const committed = []
  const aborted = []
  for (let round = 0; round < a.rounds; round++) {
    const commit = round % 2 === 0
    const values = []
    for (let i = 0; i < a.perRound; i++) values.push(`r${round}-${i}-${commit ? 'commit' : 'abort'}`)
    const txn = await producer.transaction()
    // Two sends per partition: the second batch finds the transaction open.
    for (const half of [values.slice(0, a.perRound / 2), values.slice(a.perRound / 2)]) {
      await txn.send({ topic: a.output, messages: half.map((value, i) => ({ value, partition: i % 2 })) })
    }
    if (commit) {
      await txn.commit()
      committed.push(...values)
    } else {
      await txn.abort()
      aborted.push(...values)
    }
  }
  emit({ event: 'phase1', committed, aborted })

  // 2. Offsets inside an aborted transaction are dropped with it.
  const abortedWithOffsets = ['offsets-abort-0', 'offsets-abort-1']
  {
    const txn = await producer.transaction()
    await txn.send({ topic: a.output, messages: abortedWithOffsets.map((value) => ({ value, partition: 0 })) })
    await txn.sendOffsets({
      consumerGroupId: a.groupId,
      topics: [{ topic: a.input, partitions: [{ partition: 0, offset: '3' }] }],
    })
    await txn.abort()
  }
  emit({ event: 'phase2', aborted: abortedWithOffsets, offsetsAfterAbort: await groupOffsets(admin, a.groupId, a.input) })

  // 3. Consume-transform-produce.
  const consumer = kafka.consumer({
    groupId: a.groupId,
    readUncommitted: false,
    sessionTimeout: 10000,
    rebalanceTimeout: 20000,
    heartbeatInterval: 500,
    maxWaitTimeInMs: 200,
    allowAutoTopicCreation: false,
  })
  consumer.on(consumer.events.CRASH, (e) => {
    process.stderr.write(`consumer crashed: ${e.payload.error && e.payload.error.stack}\n`)
    process.exit(4)
  })
  const transformed = []
  let transactions = 0
  let finish
  const finished = new Promise((resolve) => (finish = resolve))
  await consumer.connect()
  await consumer.subscribe({ topic: a.input, fromBeginning: true })
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
      if (batch.messages.length === 0) return
      const out = batch.messages.map((m) => 't-' + m.value.toString())
      const txn = await producer.transaction()
      try {
        await txn.send({ topic: a.output, messages: out.map((value) => ({ value, partition: 1 })) })
        const next = (BigInt(batch.lastOffset()) + 1n).toString()
        await txn.sendOffsets({
          consumerGroupId: a.groupId,
          topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: next }] }],
        })
        await txn.commit()
      } catch (e) {
        await txn.abort()
        throw e
      }
      transactions += 1
      transformed.push(...out)
      resolveOffset(batch.lastOffset())
      await heartbeat()
      if (transformed.length >= a.inputCount) finish()
    },
  })
  await finished
  await consumer.disconnect()
  const offsets = await groupOffsets(admin, a.groupId, a.input)
  await producer.disconnect()
  await admin.disconnect()
  emit({ event: 'done', transformed, transactions, offsets })
}

main().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`)
  process.exit(1)
})
