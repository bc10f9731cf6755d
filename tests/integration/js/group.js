// Runs `members` kafkajs consumers in one group over one topic until `expect`
// records have arrived, then each member commits what it consumed and leaves.
// Argument: {brokers, topic, groupId, members, partitions, expect, lingerMs, timeoutMs}
// Output, one JSON line each:
//   {"event": "join", member, memberId, isLeader, assignment: [partition...]}   every join
//   {"event": "ready", assignments: {member: [partition...]}}  once the members split all
//      `partitions` partitions between them without overlap (the test produces after this)
//   {"event": "done", records: [{member, partition, offset, key, value, headers}],
//      committed: {partition: offset}, joins: {member: count}}
// Keys, values and header values are hex (null stays null).
'use strict'

const { args, client, emit, hex, headersToHex, deadline } = require('./common')

async function main() {
  const a = args()
  deadline(a.timeoutMs || 60000, 'group consume of ' + a.expect + ' records')
  const kafka = client(a, 'keel-kafkajs-group')
  const records = []
  const assignments = {}
  const joins = {}
  const consumed = {} // member -> {partition: last offset}
  let ready = false
  let finish
  const finished = new Promise((resolve) => (finish = resolve))

  const checkReady = () => {
    if (ready || Object.keys(assignments).length !== a.members) return
    const all = Object.values(assignments).flat()
    const distinct = new Set(all)
    if (all.length === a.partitions && distinct.size === a.partitions && Object.values(assignments).every((p) => p.length > 0)) {
      ready = true
      emit({ event: 'ready', assignments })
    }
  }

  const consumers = []
  for (let m = 0; m < a.members; m++) {
    const consumer = kafka.consumer({
      groupId: a.groupId,
      sessionTimeout: 10000,
      rebalanceTimeout: 20000,
      heartbeatInterval: 500,
      maxWaitTimeInMs: 500,
      allowAutoTopicCreation: false,
      retry: { retries: 8, initialRetryTime: 100 },
    })
    consumers.push(consumer)
    consumed[m] = {}
    joins[m] = 0
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      const assignment = (e.payload.memberAssignment[a.topic] || []).slice().sort((x, y) => x - y)
      assignments[m] = assignment
      joins[m] += 1
      emit({ event: 'join', member: m, memberId: e.payload.memberId, isLeader: e.payload.isLeader, assignment })
      checkReady()
    })
    consumer.on(consumer.events.CRASH, (e) => {
      process.stderr.write(`member ${m} crashed: ${e.payload.error && e.payload.error.stack}\n`)
      process.exit(4)
    })
    await consumer.connect()
    await consumer.subscribe({ topic: a.topic, fromBeginning: true })
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        records.push({
          member: m,
          partition,
          offset: Number(message.offset),
          key: hex(message.key),
          value: hex(message.value),
          headers: headersToHex(message.headers),
        })
        consumed[m][partition] = Number(message.offset)
        if (records.length === a.expect) finish()
      },
    })
  }

  await finished
  // Linger so a record delivered twice would show up.
  await new Promise((resolve) => setTimeout(resolve, a.lingerMs ?? 1000))
  for (let m = 0; m < a.members; m++) {
    const offsets = Object.entries(consumed[m]).map(([partition, last]) => ({
      topic: a.topic,
      partition: Number(partition),
      offset: String(last + 1),
    }))
    if (offsets.length) await consumers[m].commitOffsets(offsets)
  }
  for (const c of consumers) await c.disconnect()

  const admin = kafka.admin()
  await admin.connect()
  const fetched = await admin.fetchOffsets({ groupId: a.groupId, topics: [a.topic] })
  await admin.disconnect()
  const committed = {}
  for (const t of fetched) for (const p of t.partitions) committed[p.partition] = Number(p.offset)
  emit({ event: 'done', records, committed, joins })
}

main().catch((e) => {
  process.stderr.write('group failed: ' + (e.stack || e) + '\n')
  process.exit(1)
})
