// kafkajs's admin client, call by call, as an operator's tool would use it:
// topics (create with configs, validate-only, create again, grow, delete),
// metadata and the cluster, configs (describe, alter), offsets (latest, by
// time), and a group's offsets (set, fetch, reset, list, describe, delete).
// Argument: {brokers, topic, group, stamp} (stamp: the produced records' first timestamp, ms)
// Output: {"event": "tour", ...} with what each call answered.
'use strict'

const { ConfigResourceTypes } = require('kafkajs')
const { args, client, emit, deadline } = require('./common')

async function main() {
  const a = args()
  deadline(a.timeoutMs || 60000, 'admin tour')
  const kafka = client(a, 'keel-kafkajs-admin-tour')
  const admin = kafka.admin()
  await admin.connect()
  const out = { event: 'tour' }
  const topicConfig = async (names) => {
    const d = await admin.describeConfigs({
      resources: [{ type: ConfigResourceTypes.TOPIC, name: a.topic, configNames: names }],
      includeSynonyms: false,
    })
    const r = d.resources[0]
    const values = {}
    for (const e of r.configEntries) values[e.configName] = { value: e.configValue, isDefault: e.isDefault }
    return { errorCode: r.errorCode, values }
  }

  out.created = await admin.createTopics({
    topics: [{ topic: a.topic, numPartitions: 2, configEntries: [{ name: 'retention.ms', value: '3600000' }] }],
  })
  out.validateOnly = await admin.createTopics({ topics: [{ topic: a.topic + '-v', numPartitions: 1 }], validateOnly: true, waitForLeaders: false })
  out.createdAgain = await admin.createTopics({ topics: [{ topic: a.topic, numPartitions: 2 }] })
  await admin.createPartitions({ topicPartitions: [{ topic: a.topic, count: 3 }] })
  out.topics = (await admin.listTopics()).filter((t) => t.startsWith(a.topic)).sort()
  const meta = await admin.fetchTopicMetadata({ topics: [a.topic] })
  out.partitions = meta.topics[0].partitions
    .map((p) => ({ partition: p.partitionId, leader: p.leader, replicas: p.replicas, isr: p.isr }))
    .sort((x, y) => x.partition - y.partition)
  const cluster = await admin.describeCluster()
  out.cluster = { brokers: cluster.brokers.map((b) => ({ nodeId: b.nodeId, host: b.host, port: b.port })),
                  controller: cluster.controller, clusterId: cluster.clusterId }

  out.configsBefore = await topicConfig(['retention.ms', 'cleanup.policy'])
  await admin.alterConfigs({
    resources: [{ type: ConfigResourceTypes.TOPIC, name: a.topic, configEntries: [{ name: 'retention.ms', value: '7200000' }] }],
  })
  out.configsAfter = await topicConfig(['retention.ms'])
  const broker = await admin.describeConfigs({
    resources: [{ type: ConfigResourceTypes.BROKER, name: String(cluster.brokers[0].nodeId), configNames: ['num.partitions'] }],
    includeSynonyms: false,
  })
  out.brokerConfig = broker.resources[0].configEntries.map((e) => ({ name: e.configName, value: e.configValue }))

  // Ten records in partition 0, a second apart in their timestamps.
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({
    topic: a.topic,
    messages: Array.from({ length: 10 }, (_, i) => ({ partition: 0, value: 'r' + i, timestamp: String(a.stamp + 1000 * i) })),
  })
  await producer.disconnect()
  out.offsets = (await admin.fetchTopicOffsets(a.topic))
    .map((o) => ({ partition: o.partition, low: o.low, high: o.high }))
    .sort((x, y) => x.partition - y.partition)
  out.byTime = (await admin.fetchTopicOffsetsByTimestamp(a.topic, a.stamp + 4500))
    .sort((x, y) => x.partition - y.partition)

  const groupOffsets = async () =>
    (await admin.fetchOffsets({ groupId: a.group, topics: [a.topic] }))[0].partitions
      .map((p) => ({ partition: p.partition, offset: p.offset }))
      .sort((x, y) => x.partition - y.partition)
  await admin.setOffsets({ groupId: a.group, topic: a.topic, partitions: [{ partition: 0, offset: '7' }] })
  out.groupSet = await groupOffsets()
  await admin.resetOffsets({ groupId: a.group, topic: a.topic, earliest: true })
  out.groupReset = await groupOffsets()
  out.groupsListed = (await admin.listGroups()).groups.filter((g) => g.groupId === a.group)
  out.groupDescribed = (await admin.describeGroups([a.group])).groups.map((g) => ({ groupId: g.groupId, state: g.state, members: g.members.length }))
  out.groupDeleted = await admin.deleteGroups([a.group])
  out.groupsAfterDelete = (await admin.listGroups()).groups.filter((g) => g.groupId === a.group)

  await admin.deleteTopics({ topics: [a.topic] })
  out.topicsAfterDelete = (await admin.listTopics()).filter((t) => t.startsWith(a.topic))
  await admin.disconnect()
  emit(out)
}

main().catch((e) => {
  process.stderr.write('admin tour failed: ' + (e.stack || e) + '\n')
  process.exit(1)
})
