// @platformatic/kafka's admin client, call by call: topics (create with
// configs, create again, list, metadata, grow, delete), configs (describe,
// alter, incremental alter), the cluster (DescribeCluster), offsets (earliest,
// latest, max timestamp, by time) and a group (list, describe, list offsets,
// delete) while a consumer is in it and after it left.
// Input (JSON on stdin): {brokers, topic, group, stamp}
// Output: {"event": "tour", ...} with what each call answered.
'use strict'

const { kafka, args, emit, deadline, base, sleep, produce, fail } = require('./pk_common')
const { ConfigResourceTypes, IncrementalAlterConfigOperationTypes, kGetApi, kGetBootstrapConnection } = kafka

// The protocol error names inside an error (ResponseError nests them).
function errorIds(e) {
  const ids = []
  const walk = (x) => {
    if (!x) return
    if (x.apiId) ids.push(x.apiId)
    for (const inner of x.errors || []) walk(inner)
  }
  walk(e)
  return ids
}

async function main() {
  const a = args()
  deadline(a.timeoutMs || 90000, 'admin tour')
  const admin = new kafka.Admin(base(a, 'keel-platformatic-admin-tour'))
  const t = a.topic
  const out = { event: 'tour' }

  const created = await admin.createTopics({
    topics: [t], partitions: 2, replicas: 1,
    configs: [{ name: 'retention.ms', value: '3600000' }, { name: 'cleanup.policy', value: 'delete' }],
  })
  out.created = created.map((c) => ({ name: c.name, partitions: c.partitions, replicas: c.replicas, idLength: c.id.length, configuration: c.configuration }))
  await admin.createTopics({ topics: [t + '-b'], partitions: 1, replicas: 1 })
  try {
    await admin.createTopics({ topics: [t], partitions: 2, replicas: 1 })
    out.createdAgain = []
  } catch (e) {
    out.createdAgain = errorIds(e)
  }
  out.topics = (await admin.listTopics()).filter((x) => x.startsWith(t)).sort()

  const md = await admin.metadata({ topics: [t], forceUpdate: true })
  out.metadata = {
    clusterId: md.id,
    controllerId: md.controllerId,
    brokers: [...md.brokers.entries()].map(([id, b]) => ({ id, host: b.host, port: b.port })),
    partitions: md.topics.get(t).partitions.map((p, i) => ({ partition: i, leader: p.leader, replicas: p.replicas, isr: p.isr })),
  }

  const watch = ['retention.ms', 'cleanup.policy', 'max.message.bytes', 'segment.bytes']
  const describe = async () => {
    const d = await admin.describeConfigs({ resources: [{ resourceType: ConfigResourceTypes.TOPIC, resourceName: t, configurationKeys: watch }] })
    const values = {}
    for (const c of d[0].configs) values[c.name] = { value: c.value, source: c.configSource, readOnly: c.readOnly }
    return values
  }
  out.configsCreated = await describe()
  await admin.alterConfigs({
    resources: [{ resourceType: ConfigResourceTypes.TOPIC, resourceName: t,
      configs: [{ name: 'retention.ms', value: '7200000' }, { name: 'segment.bytes', value: '2097152' }] }],
  })
  out.configsAltered = await describe()
  await admin.incrementalAlterConfigs({
    resources: [{ resourceType: ConfigResourceTypes.TOPIC, resourceName: t, configs: [
      { name: 'max.message.bytes', configOperation: IncrementalAlterConfigOperationTypes.SET, value: '2000000' },
      { name: 'segment.bytes', configOperation: IncrementalAlterConfigOperationTypes.DELETE },
    ] }],
  })
  await sleep(500)
  out.configsIncremental = await describe()

  await admin.createPartitions({ topics: [{ name: t, count: 4 }] })
  const grown = await admin.metadata({ topics: [t], forceUpdate: true })
  out.partitionsAfterGrow = grown.topics.get(t).partitions.length

  // DescribeCluster, at the version the client picks from ApiVersions.
  out.describeCluster = await new Promise((resolve, reject) => {
    admin[kGetApi]('DescribeCluster', (error, api) => {
      if (error) return reject(error)
      admin[kGetBootstrapConnection]((error, connection) => {
        if (error) return reject(error)
        api(connection, false, 1, (error, r) => (error ? reject(error) : resolve(
          { errorCode: r.errorCode, clusterId: r.clusterId, controllerId: r.controllerId,
            brokers: r.brokers.map((b) => ({ id: b.brokerId, host: b.host, port: b.port })) })))
      })
    })
  })

  // Ten records with known timestamps in partition 0, then ListOffsets.
  await produce(a, t, Array.from({ length: 10 }, (_, i) => ({ key: 'k' + i, value: 'v' + i, partition: 0, timestamp: a.stamp + i * 1000 })), {})
  const offsets = async (ts) => {
    const r = await admin.listOffsets({ topics: [{ name: t, partitions: [0, 1].map((p) => ({ partitionIndex: p, timestamp: BigInt(ts) })) }] })
    return r[0].partitions.map((p) => ({ partition: p.partitionIndex, offset: Number(p.offset), timestamp: Number(p.timestamp) }))
      .sort((x, y) => x.partition - y.partition)
  }
  out.listOffsets = { earliest: await offsets(-2), latest: await offsets(-1), maxTimestamp: await offsets(-3), byTime: await offsets(a.stamp + 4500) }

  // A group with one live member that has read and committed the ten records.
  const consumer = new kafka.Consumer({ ...base(a, 'keel-platformatic-tour-member'), groupId: a.group, deserializers: kafka.stringDeserializers, maxWaitTime: 300 })
  const stream = await consumer.consume({ topics: [t], mode: kafka.MessagesStreamModes.EARLIEST, autocommit: false })
  let n = 0
  for await (const msg of stream) {
    n += 1
    if (n === 10) {
      await msg.commit()
      break
    }
  }
  out.groupConsumed = n
  const groupsView = async () => {
    const listed = await admin.listGroups()
    return [...listed.values()].filter((g) => g.id === a.group).map((g) => ({ id: g.id, state: g.state, protocolType: g.protocolType }))
  }
  const describeGroup = async () => {
    const d = await admin.describeGroups({ groups: [a.group] })
    const g = d.get(a.group)
    return { state: g.state, protocolType: g.protocolType, protocol: g.protocol,
      members: [...g.members.values()].map((m) => ({ clientId: m.clientId,
        assignments: m.assignments ? [...m.assignments.values()].map((x) => [x.topic, [...x.partitions].sort()]) : null })) }
  }
  out.groupsLive = await groupsView()
  out.describeLive = await describeGroup()
  const listedOffsets = await admin.listConsumerGroupOffsets({ groups: [a.group] })
  out.groupOffsets = listedOffsets.flatMap((g) => g.topics.flatMap((tp) => tp.partitions.map((p) => ({ topic: tp.name, partition: p.partitionIndex, offset: Number(p.committedOffset) }))))
  await stream.close()
  await consumer.close()
  out.groupsAfterLeave = await groupsView()
  out.describeAfterLeave = await describeGroup()
  await admin.deleteGroups({ groups: [a.group] })
  out.groupsAfterDelete = await groupsView()

  await admin.deleteTopics({ topics: [t, t + '-b'] })
  let left = []
  for (let i = 0; i < 50; i++) {
    left = (await admin.listTopics()).filter((x) => x.startsWith(t))
    if (left.length === 0) break
    await sleep(200)
  }
  out.topicsAfterDelete = left
  await admin.close()
  emit(out)
}

main().catch(fail('admin tour'))
