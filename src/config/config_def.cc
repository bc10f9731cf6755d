#include "config/config_def.h"

#include <algorithm>
#include <cctype>
#include <string>

namespace keel::config {

namespace {

using std::nullopt;

// Defaults follow Kafka's documentation (3.x broker configs), except log.dir
// (/tmp/keel-logs, so a Keel broker never writes into a Kafka broker's dir).
const std::vector<KeyDef>& table() {
  static const std::vector<KeyDef> kKeys = {
      // --- identity and network
      {"broker.id", KeyType::kInt, "0", 0, nullopt, {},
       "Id of this broker; unique in the cluster.", ""},
      {"broker.rack", KeyType::kString, nullopt, nullopt, nullopt, {},
       "Rack of this broker (registered in /brokers/ids, shown in Metadata): rack-aware replica "
       "assignment and follower fetching (KIP-392) use it.", ""},
      {"listeners", KeyType::kListeners, "PLAINTEXT://:9092", nullopt, nullopt, {},
       "Comma-separated NAME://host:port the broker listens on; empty host = all interfaces.", ""},
      {"advertised.listeners", KeyType::kListeners, nullopt, nullopt, nullopt, {},
       "Listeners given to clients in metadata; defaults to listeners (empty host -> hostname).", ""},
      {"listener.security.protocol.map", KeyType::kStringMap,
       "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL", nullopt, nullopt,
       {}, "Listener name -> security protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL).", ""},
      {"inter.broker.protocol.version", KeyType::kString, "3.9-IV0", nullopt, nullopt, {},
       "The Kafka release whose inter-broker protocol brokers speak; keel speaks 3.9's and accepts "
       "any Kafka version here, as a rolling upgrade's configuration names one.", ""},
      {"inter.broker.listener.name", KeyType::kString, nullopt, nullopt, nullopt, {},
       "Listener brokers use to talk to each other; defaults to PLAINTEXT, else the first listener.",
       ""},
      {"security.inter.broker.protocol", KeyType::kString, nullopt, nullopt, nullopt,
       {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"},
       "Kafka's older way to name the inter-broker listener: the listener named after this protocol. "
       "Set it or inter.broker.listener.name, not both.",
       ""},
      // --- storage
      {"log.dirs", KeyType::kList, nullopt, nullopt, nullopt, {},
       "Directories holding partition data; defaults to log.dir.", ""},
      {"log.dir", KeyType::kString, "/tmp/keel-logs", nullopt, nullopt, {},
       "Single data directory, used when log.dirs is not set.", ""},
      {"num.partitions", KeyType::kInt, "1", 1, nullopt, {},
       "Default partition count of auto-created topics.", ""},
      {"default.replication.factor", KeyType::kShort, "1", 1, nullopt, {},
       "Default replication factor of auto-created topics.", ""},
      {"min.insync.replicas", KeyType::kInt, "1", 1, nullopt, {},
       "Replicas that must acknowledge an acks=all produce.", "min.insync.replicas"},
      {"auto.create.topics.enable", KeyType::kBool, "true", nullopt, nullopt, {},
       "Create a topic when a client asks for metadata of an unknown one.", ""},
      {"delete.topic.enable", KeyType::kBool, "true", nullopt, nullopt, {},
       "Allow DeleteTopics.", ""},
      {"message.max.bytes", KeyType::kInt, "1048588", 0, nullopt, {},
       "Largest record batch the broker accepts.", "max.message.bytes"},
      {"log.retention.hours", KeyType::kInt, "168", nullopt, nullopt, {},
       "Hours to keep a segment; overridden by log.retention.minutes and log.retention.ms.",
       ""},
      {"log.retention.minutes", KeyType::kInt, nullopt, nullopt, nullopt, {},
       "Minutes to keep a segment; overrides log.retention.hours.", ""},
      {"log.retention.ms", KeyType::kLong, nullopt, nullopt, nullopt, {},
       "Milliseconds to keep a segment; overrides minutes and hours; negative = forever.",
       "retention.ms"},
      {"log.retention.bytes", KeyType::kLong, "-1", nullopt, nullopt, {},
       "Largest size of a partition before old segments are deleted; -1 = no limit.",
       "retention.bytes"},
      {"log.segment.bytes", KeyType::kInt, "1073741824", 14, nullopt, {},
       "Size at which a segment is rolled.", "segment.bytes"},
      {"log.roll.hours", KeyType::kInt, "168", 1, nullopt, {},
       "Age at which a segment is rolled even if not full.", ""},
      {"log.roll.ms", KeyType::kLong, nullopt, 1, nullopt, {},
       "Same as log.roll.hours, in milliseconds; overrides it.", "segment.ms"},
      {"log.roll.jitter.hours", KeyType::kInt, "0", 0, nullopt, {},
       "Largest random jitter subtracted from the roll time.", ""},
      {"log.roll.jitter.ms", KeyType::kLong, nullopt, 0, nullopt, {},
       "Same as log.roll.jitter.hours, in milliseconds; overrides it.", "segment.jitter.ms"},
      {"log.index.interval.bytes", KeyType::kInt, "4096", 0, nullopt, {},
       "Bytes of log between two offset index entries.", "index.interval.bytes"},
      {"log.index.size.max.bytes", KeyType::kInt, "10485760", 4, nullopt, {},
       "Largest size of an offset or time index file.", "segment.index.bytes"},
      {"log.flush.interval.messages", KeyType::kLong, "9223372036854775807", 1, nullopt, {},
       "Messages appended to a partition before it is fsynced.", "flush.messages"},
      {"log.flush.interval.ms", KeyType::kLong, nullopt, 0, nullopt, {},
       "Largest time a message waits before fsync; defaults to log.flush.scheduler.interval.ms.",
       "flush.ms"},
      {"log.flush.scheduler.interval.ms", KeyType::kLong, "9223372036854775807", nullopt, nullopt,
       {}, "How often the flusher checks whether a log needs an fsync.", ""},
      {"log.cleanup.policy", KeyType::kList, "delete", nullopt, nullopt, {"delete", "compact"},
       "delete (by retention), compact (keep the last value per key), or both.", "cleanup.policy"},
      {"log.cleaner.enable", KeyType::kBool, "true", nullopt, nullopt, {},
       "Run the log cleaner (needed for compacted topics).", ""},
      {"log.cleaner.threads", KeyType::kInt, "1", 0, nullopt, {},
       "Threads compacting logs.", ""},
      {"log.cleaner.min.cleanable.ratio", KeyType::kDouble, "0.5", 0, 1, {},
       "Dirty/total ratio at which a log becomes eligible for compaction.",
       "min.cleanable.dirty.ratio"},
      {"log.cleaner.delete.retention.ms", KeyType::kLong, "86400000", 0, nullopt, {},
       "How long tombstones are kept in compacted topics.", "delete.retention.ms"},
      {"log.cleaner.backoff.ms", KeyType::kLong, "15000", 0, nullopt, {},
       "How long the log cleaner sleeps when no log needs compacting.", ""},
      {"log.cleaner.min.compaction.lag.ms", KeyType::kLong, "0", 0, nullopt, {},
       "Youngest age of a message before it may be compacted.", "min.compaction.lag.ms"},
      {"log.segment.delete.delay.ms", KeyType::kLong, "60000", 0, nullopt, {},
       "Delay between marking a segment deleted and removing its files.",
       "file.delete.delay.ms"},
      {"log.retention.check.interval.ms", KeyType::kLong, "300000", 1, nullopt, {},
       "How often retention is checked.", ""},
      {"log.message.timestamp.type", KeyType::kString, "CreateTime", nullopt, nullopt,
       {"CreateTime", "LogAppendTime"},
       "Whether batch timestamps are the producer's (CreateTime) or the broker's (LogAppendTime).",
       "message.timestamp.type"},
      {"log.message.timestamp.difference.max.ms", KeyType::kLong, "9223372036854775807", 0, nullopt, {},
       "Largest difference between a CreateTime record timestamp and the broker's clock (deprecated by "
       "the before/after keys).",
       "message.timestamp.difference.max.ms"},
      {"log.message.timestamp.before.max.ms", KeyType::kLong, "9223372036854775807", 0, nullopt, {},
       "How far in the past a CreateTime record timestamp may be.", "message.timestamp.before.max.ms"},
      {"log.message.timestamp.after.max.ms", KeyType::kLong, "9223372036854775807", 0, nullopt, {},
       "How far in the future a CreateTime record timestamp may be.", "message.timestamp.after.max.ms"},
      {"log.message.format.version", KeyType::kString, "3.0-IV1", nullopt, nullopt, {},
       "Deprecated and ignored (as by Kafka from inter.broker.protocol.version 3.0): batches are "
       "stored as produced, in format v2. Accepted so that existing configurations and tools work.",
       "message.format.version"},
      {"compression.type", KeyType::kString, "producer", nullopt, nullopt,
       {"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"},
       "Compression of stored batches; producer = keep the producer's.", "compression.type"},
      {"unclean.leader.election.enable", KeyType::kBool, "false", nullopt, nullopt, {},
       "Allow an out-of-sync replica to become leader (may lose data).",
       "unclean.leader.election.enable"},
      // --- coordination
      {"zookeeper.connect", KeyType::kString, "", nullopt, nullopt, {},
       "host:port[,host:port...][/chroot] of ZooKeeper; empty = embedded single-node store.", ""},
      {"zookeeper.session.timeout.ms", KeyType::kInt, "18000", 1, nullopt, {},
       "ZooKeeper session timeout.", ""},
      {"zookeeper.connection.timeout.ms", KeyType::kInt, nullopt, 1, nullopt, {},
       "Longest wait to connect to ZooKeeper; defaults to zookeeper.session.timeout.ms.", ""},
      // --- ZooKeeper security (issue 22 part 5)
      {"zookeeper.set.acl", KeyType::kBool, "false", nullopt, nullopt, {},
       "Create every ZooKeeper node with Kafka's ACLs: all rights for this broker's digest identity, "
       "read for everybody except on credentials (/config/users, /config/brokers, /delegation_token/tokens); "
       "needs zookeeper.digest.credentials.file. Open nodes left from before are secured at start-up.",
       ""},
      {"zookeeper.digest.credentials.file", KeyType::kString, "", nullopt, nullopt, {},
       "File holding user:password (one line) with which the broker authenticates to ZooKeeper "
       "(the digest scheme); every broker of a cluster uses the same one. Empty = unauthenticated.",
       ""},
      // --- authorization
      {"authorizer.class.name", KeyType::kString, "", nullopt, nullopt, {},
       "kafka.security.authorizer.AclAuthorizer or kafka.security.auth.SimpleAclAuthorizer: Kafka's ACLs, "
       "kept in the coordination store in Kafka's layout; empty = no authorization.", ""},
      {"super.users", KeyType::kString, "", nullopt, nullopt, {},
       "Principals allowed everything whatever the ACLs say, separated by ';' (User:admin;User:CN=broker).", ""},
      {"allow.everyone.if.no.acl.found", KeyType::kBool, "false", nullopt, nullopt, {},
       "Allow a request on a resource no ACL names at all; any ACL on it, for anybody, turns this off for it.", ""},
      // --- threads and sockets
      {"num.network.threads", KeyType::kInt, "3", 1, nullopt, {},
       "Threads running network I/O.", ""},
      {"num.io.threads", KeyType::kInt, "8", 1, nullopt, {},
       "Threads running request handlers; one connection's requests run one at a time, in order.", ""},
      {"num.recovery.threads.per.data.dir", KeyType::kInt, "1", 1, nullopt, {},
       "Threads per data dir closing the logs at a stop; Keel uses at least 16 (a close waits on fsyncs, which "
       "concurrent closes share). Start-up opens and recovers the logs on one thread.", ""},
      {"socket.request.max.bytes", KeyType::kInt, "104857600", 1, nullopt, {},
       "Largest request frame accepted.", ""},
      {"socket.send.buffer.bytes", KeyType::kInt, "102400", -1, nullopt, {},
       "SO_SNDBUF of client sockets; -1 = OS default.", ""},
      {"socket.receive.buffer.bytes", KeyType::kInt, "102400", -1, nullopt, {},
       "SO_RCVBUF of client sockets; -1 = OS default.", ""},
      {"queued.max.requests", KeyType::kInt, "500", 1, nullopt, {},
       "Requests queued before the network threads stop reading.", ""},
      {"max.incremental.fetch.session.cache.slots", KeyType::kInt, "1000", 0, nullopt, {},
       "Incremental fetch sessions (KIP-227) the broker keeps; 0 turns them off.", ""},
      {"connections.max.idle.ms", KeyType::kLong, "600000", 1, nullopt, {},
       "A connection with no request for this long is closed.", ""},
      {"max.connections", KeyType::kInt, "2147483647", 0, nullopt, {},
       "Connections accepted at once, over all listeners; at the limit new ones wait (unaccepted) until one closes.", ""},
      {"max.connections.per.ip", KeyType::kInt, "2147483647", 0, nullopt, {},
       "Connections accepted at once from one client address; more are closed at accept.", ""},
      {"max.connections.per.ip.overrides", KeyType::kString, "", nullopt, nullopt, {},
       "Other limits for some clients, `host:limit,...` (a host name, resolved at start, or an address): "
       "`10.1.2.3:500,batch.example.com:50`.",
       ""},
      {"max.connection.creation.rate", KeyType::kInt, "2147483647", 0, nullopt, {},
       "New connections per second the broker accepts (all listeners but the inter-broker one); above it the "
       "acceptor waits. listener.name.<l>.max.connection.creation.rate sets one listener's own (KIP-612).", ""},
      // --- SASL (server/sasl.h, docs/security.md)
      {"sasl.enabled.mechanisms", KeyType::kList, "GSSAPI", nullopt, nullopt,
       {"GSSAPI", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"},
       "Mechanisms SASL listeners offer.", ""},
      {"sasl.server.max.receive.size", KeyType::kInt, "524288", 1, nullopt, {},
       "Largest frame a SASL listener reads before the client has authenticated.", ""},
      {"sasl.plain.credentials.file", KeyType::kString, "", nullopt, nullopt, {},
       "PLAIN users: lines 'user:SCRAM-SHA-256:<salted hash>' (keel --hash-password); plaintext is refused.", ""},
      {"connection.failed.authentication.delay.ms", KeyType::kInt, "100", 0, nullopt, {},
       "Wait before answering a failed authentication (and closing), so guessing is slow.", ""},
      {"connections.max.reauth.ms", KeyType::kLong, "0", 0, nullopt, {},
       "SASL session lifetime (KIP-368); a connection past it must re-authenticate or is closed. 0 = forever.", ""},
      // --- Kerberos (SASL/GSSAPI) and JAAS lines (server/sasl_gssapi.h, security/jaas.h)
      {"sasl.kerberos.service.name", KeyType::kString, nullopt, nullopt, nullopt, {},
       "Kerberos service name of the brokers (the 'kafka' of kafka/host@REALM); required with GSSAPI.", ""},
      {"sasl.jaas.config", KeyType::kString, nullopt, nullopt, nullopt, {},
       "One JAAS login module line: Krb5LoginModule (keyTab, principal) for GSSAPI, PlainLoginModule or "
       "ScramLoginModule (username, password) for the broker's own PLAIN/SCRAM logins.", ""},
      {"sasl.kerberos.ticket.renew.window.factor", KeyType::kDouble, "0.8", 0.5, 1.0, {},
       "The broker renews its own Kerberos ticket (inter-broker GSSAPI) at this fraction of its life.", ""},
      {"sasl.kerberos.ticket.renew.jitter", KeyType::kDouble, "0.05", 0.0, 0.5, {},
       "Up to this fraction of the ticket's life is added at random to the renewal time.", ""},
      {"sasl.kerberos.min.time.before.relogin", KeyType::kLong, "60000", 0, nullopt, {},
       "No renewal sooner than this many ms after the ticket started (unless it would lapse).", ""},
      {"sasl.kerberos.kinit.cmd", KeyType::kString, "/usr/bin/kinit", nullopt, nullopt, {},
       "Accepted for Kafka's configs; not used: the broker logs in from its keytab itself.", ""},
      {"sasl.kerberos.principal.to.local.rules", KeyType::kList, "DEFAULT", nullopt, nullopt, {},
       "Kafka's auth_to_local rules turning a Kerberos principal into the principal's name; DEFAULT keeps "
       "the first component of names in the default realm.", ""},
      {"sasl.mechanism.inter.broker.protocol", KeyType::kString, "GSSAPI", nullopt, nullopt,
       {"GSSAPI", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"},
       "Mechanism brokers use with each other when the inter-broker listener is a SASL listener.", ""},
      // --- TLS (net/tls.h, docs/security.md)
      {"ssl.keystore.type", KeyType::kString, "JKS", nullopt, nullopt, {"JKS", "PKCS12", "PEM"},
       "Format of the key store: PEM or PKCS12. JKS (Kafka's default type) is refused at start-up with the "
       "keytool command that converts it, unless the file is really PKCS12.", ""},
      {"ssl.keystore.location", KeyType::kString, nullopt, nullopt, nullopt, {},
       "The key store: a PKCS12 file, or a PEM file with the private key and the certificate chain.", ""},
      {"ssl.keystore.password", KeyType::kString, nullopt, nullopt, nullopt, {},
       "Password of a PKCS12 key store.", ""},
      {"ssl.key.password", KeyType::kString, nullopt, nullopt, nullopt, {},
       "Password of an encrypted PEM private key.", ""},
      {"ssl.keystore.key", KeyType::kString, nullopt, nullopt, nullopt, {},
       "The private key as inline PEM text (with ssl.keystore.certificate.chain, ssl.keystore.type PEM).", ""},
      {"ssl.keystore.certificate.chain", KeyType::kString, nullopt, nullopt, nullopt, {},
       "The certificate chain as inline PEM text (with ssl.keystore.key).", ""},
      {"ssl.truststore.type", KeyType::kString, "JKS", nullopt, nullopt, {"JKS", "PKCS12", "PEM"},
       "Format of the trust store: PEM or PKCS12 (JKS as for ssl.keystore.type).", ""},
      {"ssl.truststore.location", KeyType::kString, nullopt, nullopt, nullopt, {},
       "The CA certificates trusted to sign peers' certificates: a PEM or PKCS12 file.", ""},
      {"ssl.truststore.password", KeyType::kString, nullopt, nullopt, nullopt, {},
       "Password of a PKCS12 trust store.", ""},
      {"ssl.truststore.certificates", KeyType::kString, nullopt, nullopt, nullopt, {},
       "The trusted CA certificates as inline PEM text.", ""},
      {"ssl.client.auth", KeyType::kString, "none", nullopt, nullopt, {"required", "requested", "none"},
       "Client certificates on SSL listeners: required (refused without one), requested (verified if sent), none.",
       ""},
      {"ssl.enabled.protocols", KeyType::kList, "TLSv1.2,TLSv1.3", nullopt, nullopt,
       {"TLSv1.2", "TLSv1.3", "TLSv1.1", "TLSv1"}, "TLS versions listeners and the broker's connections accept.", ""},
      {"ssl.cipher.suites", KeyType::kList, nullopt, nullopt, nullopt, {},
       "Cipher suites (IANA/Java or OpenSSL names); a TLS version none of whose suites is named keeps OpenSSL's "
       "defaults. Empty: OpenSSL's defaults.", ""},
      {"ssl.endpoint.identification.algorithm", KeyType::kString, "https", nullopt, nullopt, {},
       "https: the broker's own TLS connections check that the other broker's certificate names the host they "
       "dialled; empty: they do not.", ""},
      {"ssl.principal.mapping.rules", KeyType::kString, "DEFAULT", nullopt, nullopt, {},
       "Rules mapping a client certificate's subject to the principal name (KIP-371); DEFAULT keeps the subject.",
       ""},
      // --- groups, offsets, transactions
      {"offsets.topic.num.partitions", KeyType::kInt, "50", 1, nullopt, {},
       "Partitions of __consumer_offsets (fixed once created).", ""},
      {"offsets.topic.replication.factor", KeyType::kShort, "3", 1, nullopt, {},
       "Replication factor of __consumer_offsets; set 1 on a single node.", ""},
      {"offsets.retention.minutes", KeyType::kInt, "10080", 1, nullopt, {},
       "How long committed offsets of an empty group are kept.", ""},
      {"offsets.commit.timeout.ms", KeyType::kInt, "5000", 1, nullopt, {},
       "Longest wait for an offset commit to be replicated.", ""},
      {"group.initial.rebalance.delay.ms", KeyType::kInt, "3000", 0, nullopt, {},
       "Wait for more members before the first rebalance of an empty group.", ""},
      {"group.min.session.timeout.ms", KeyType::kInt, "6000", 0, nullopt, {},
       "Smallest session timeout a consumer may ask for.", ""},
      {"group.max.session.timeout.ms", KeyType::kInt, "1800000", 0, nullopt, {},
       "Largest session timeout a consumer may ask for.", ""},
      {"group.max.size", KeyType::kInt, "2147483647", 1, nullopt, {},
       "Members one consumer group may have; more are refused with GROUP_MAX_SIZE_REACHED.", ""},
      {"offsets.topic.segment.bytes", KeyType::kInt, "104857600", 1, nullopt, {},
       "segment.bytes of __consumer_offsets (kept small so compaction and loading stay quick).", ""},
      {"offsets.retention.check.interval.ms", KeyType::kLong, "600000", 1, nullopt, {},
       "How often committed offsets are checked for expiry.", ""},
      {"offset.metadata.max.bytes", KeyType::kInt, "4096", 0, nullopt, {},
       "Longest metadata string an offset commit may carry (OFFSET_METADATA_TOO_LARGE beyond).", ""},
      {"transaction.state.log.replication.factor", KeyType::kShort, "3", 1, nullopt, {},
       "Replication factor of __transaction_state; set 1 on a single node.", ""},
      {"transaction.state.log.min.isr", KeyType::kInt, "2", 1, nullopt, {},
       "min.insync.replicas of __transaction_state; set 1 on a single node.", ""},
      {"transaction.state.log.num.partitions", KeyType::kInt, "50", 1, nullopt, {},
       "Partitions of __transaction_state (fixed once created).", ""},
      {"transaction.state.log.segment.bytes", KeyType::kInt, "104857600", 1, nullopt, {},
       "segment.bytes of __transaction_state (kept small so compaction and loading stay quick).", ""},
      {"transaction.max.timeout.ms", KeyType::kInt, "900000", 1, nullopt, {},
       "Longest transaction timeout a producer may ask for (INVALID_TRANSACTION_TIMEOUT beyond).", ""},
      {"transactional.id.expiration.ms", KeyType::kInt, "604800000", 1, nullopt, {},
       "A transactional id without a transaction or a request for this long is forgotten.", ""},
      {"transaction.abort.timed.out.transaction.cleanup.interval.ms", KeyType::kInt, "10000", 1, nullopt, {},
       "How often transactions past their timeout are looked for (and aborted, their producer fenced).", ""},
      {"transaction.remove.expired.transaction.cleanup.interval.ms", KeyType::kInt, "3600000", 1, nullopt, {},
       "How often expired transactional ids are looked for.", ""},
      {"transaction.partition.verification.enable", KeyType::kBool, "true", nullopt, nullopt, {},
       "KIP-890 part 1: a partition leader asks the transaction coordinator whether a partition is in the "
       "producer's transaction before its first transactional append (INVALID_TXN_STATE otherwise).", ""},
      // --- replication
      {"replica.lag.time.max.ms", KeyType::kLong, "30000", 1, nullopt, {},
       "A follower not caught up for this long leaves the ISR.", ""},
      {"replica.selector.class", KeyType::kString, nullopt, nullopt, nullopt,
       {"org.apache.kafka.common.replica.RackAwareReplicaSelector",
        "org.apache.kafka.common.replica.LeaderSelector"},
       "Which replica a leader names to a consumer with a rack (KIP-392): RackAwareReplicaSelector "
       "picks one in the consumer's rack; null or LeaderSelector, the leader.", ""},
      {"leader.replication.throttled.rate", KeyType::kLong, "9223372036854775807", 0, nullopt, {},
       "Bytes/s this broker as leader sends to followers of throttled replicas (dynamic).", ""},
      {"follower.replication.throttled.rate", KeyType::kLong, "9223372036854775807", 0, nullopt, {},
       "Bytes/s this broker as follower fetches for throttled replicas (dynamic).", ""},
      {"replication.quota.window.num", KeyType::kInt, "11", 1, nullopt, {},
       "Samples the replication throttles' rate is measured over.", ""},
      {"replication.quota.window.size.seconds", KeyType::kInt, "1", 1, nullopt, {},
       "Length of one sample of the replication throttles' rate.", ""},
      {"quota.window.num", KeyType::kInt, "11", 1, nullopt, {},
       "Samples client quotas' rates are measured over.", ""},
      {"quota.window.size.seconds", KeyType::kInt, "1", 1, nullopt, {},
       "Length of one sample of client quotas' rates.", ""},
      {"num.replica.fetchers", KeyType::kInt, "1", 1, nullopt, {},
       "Fetcher threads per source broker.", ""},
      {"replica.fetch.wait.max.ms", KeyType::kInt, "500", 1, nullopt, {},
       "Longest a follower's fetch waits at the leader for data.", ""},
      {"replica.fetch.min.bytes", KeyType::kInt, "1", 1, nullopt, {},
       "Bytes a follower's fetch waits for at the leader.", ""},
      {"replica.fetch.max.bytes", KeyType::kInt, "1048576", 0, nullopt, {},
       "Bytes a follower fetches per partition and request (at least one batch).", ""},
      {"replica.fetch.response.max.bytes", KeyType::kInt, "10485760", 0, nullopt, {},
       "Bytes a follower's fetch response may hold in all.", ""},
      {"fetch.max.bytes", KeyType::kInt, "57671680", 1024, nullopt, {},
       "Bytes a consumer's fetch response may hold in all, whatever the request asks (at least one batch).", ""},
      {"replica.fetch.backoff.ms", KeyType::kInt, "1000", 0, nullopt, {},
       "Pause of a follower's fetching after an error.", ""},
      {"replica.socket.timeout.ms", KeyType::kInt, "30000", 1, nullopt, {},
       "Longest a follower waits for a fetch response (beyond the fetch's own wait).", ""},
      {"replica.high.watermark.checkpoint.interval.ms", KeyType::kLong, "5000", 1, nullopt, {},
       "How often each log dir's replication-offset-checkpoint (the high watermarks) is written.", ""},
      {"controlled.shutdown.enable", KeyType::kBool, "true", nullopt, nullopt, {},
       "Move leadership away before stopping.", ""},
      {"controlled.shutdown.max.retries", KeyType::kInt, "3", 1, nullopt, {},
       "Controlled-shutdown attempts before the broker stops anyway.", ""},
      {"controlled.shutdown.retry.backoff.ms", KeyType::kLong, "5000", 0, nullopt, {},
       "Pause between controlled-shutdown attempts.", ""},
      {"auto.leader.rebalance.enable", KeyType::kBool, "true", nullopt, nullopt, {},
       "The controller moves leadership back to preferred replicas when a broker's share is off.", ""},
      {"leader.imbalance.check.interval.seconds", KeyType::kLong, "300", 1, nullopt, {},
       "How often the controller checks the preferred-leader balance.", ""},
      {"leader.imbalance.per.broker.percentage", KeyType::kInt, "10", 0, nullopt, {},
       "Share of a broker's preferred partitions led elsewhere that starts a rebalance.", ""},
      // --- HTTP listener and metrics (http/server.h, server/broker_metrics.h, docs/metrics.md)
      {"http.listeners", KeyType::kList, nullopt, nullopt, nullopt, {},
       "Comma-separated http://host:port the broker serves /metrics, /health and /ready on "
       "(e.g. http://127.0.0.1:9644; port 0 = a free port); empty = no HTTP listener. https:// is "
       "refused until the HTTP listener serves TLS.", ""},
      {"metrics.names", KeyType::kString, "strimzi", nullopt, nullopt, {"strimzi", "confluent"},
       "Spelling of Kafka's metric names on /metrics: strimzi (the JMX exporter rules Strimzi ships: "
       "meters as ..._total counters) or confluent (jmx-monitoring-stacks: ...persec).", ""},
      {"metrics.enabled", KeyType::kBool, "true", nullopt, nullopt, {},
       "Whether requests update Kafka's broker metrics; false leaves /metrics with the process and "
       "scrape-time series only (for measuring what the metrics cost).", ""},
      {"http.request.timeout.ms", KeyType::kInt, "10000", 1, nullopt, {},
       "Longest wait for an HTTP request to arrive in full; a slower one is answered 408 and closed.", ""},
      {"http.max.connections", KeyType::kInt, "256", 1, nullopt, {},
       "HTTP connections served at once; more are answered 503 and closed.", ""},
      // --- Kerberos on the HTTP listener (security/spnego.h, docs/security.md)
      {"http.spnego.enable", KeyType::kBool, "false", nullopt, nullopt, {},
       "Accept Kerberos (HTTP Negotiate, SPNEGO) on the REST API and console; calls without credentials are then "
       "answered 401 with WWW-Authenticate: Negotiate instead of running as User:ANONYMOUS.", ""},
      {"http.spnego.keytab", KeyType::kString, "", nullopt, nullopt, {},
       "Keytab with the HTTP/<host>@REALM key; empty = the GSSAPI listener's keyTab (its JAAS line) when it holds "
       "an HTTP/ key.", ""},
      {"http.spnego.principal", KeyType::kString, "", nullopt, nullopt, {},
       "The one HTTP/<host>@REALM name tickets must be for; empty = any HTTP/<host> key of the keytab.", ""},
      {"console.records.download.max.bytes", KeyType::kLong, "10485760", 0, nullopt, {},
       "Largest download of a topic's records from the web console's message browser (0 turns downloads off).", ""},
      {"console.lag.history.interval.ms", KeyType::kInt, "10000", 100, nullopt, {},
       "How often the lag trend of each consumer group this broker coordinates is sampled (the console's lag graph).", ""},
      // --- logging (Keel's own; Kafka configures log4j separately)
      {"logging.level", KeyType::kString, "info", nullopt, nullopt,
       {"trace", "debug", "info", "warn", "error", "critical", "off"},
       "Lowest level written to the log.", ""},
      {"logging.file", KeyType::kString, "", nullopt, nullopt, {},
       "File the log is appended to; empty = stderr.", ""},
      // --- request log and operations (server/request_log.h, docs/operations.md)
      {"logging.request.level", KeyType::kString, "info", nullopt, nullopt,
       {"trace", "debug", "info", "warn", "error", "critical", "off"},
       "Level of the request log (logger 'request'), apart from logging.level: debug writes one line "
       "per request; info and warn keep only the slow-request lines.", ""},
      {"logging.request.slow.ms", KeyType::kLong, "10000", -1, nullopt, {},
       "A request that takes longer than this (a Fetch: longer than this plus its max_wait_ms; "
       "JoinGroup and SyncGroup never) is logged at warn with its client and timing; -1 = never.", ""},
  };
  return kKeys;
}

}  // namespace

std::string_view key_type_name(KeyType t) {
  switch (t) {
    case KeyType::kShort: return "short";
    case KeyType::kInt: return "int";
    case KeyType::kLong: return "long";
    case KeyType::kDouble: return "double";
    case KeyType::kBool: return "boolean";
    case KeyType::kString: return "string";
    case KeyType::kList: return "list";
    case KeyType::kListeners: return "list of listeners";
    case KeyType::kStringMap: return "map";
  }
  return "?";
}

std::span<const KeyDef> all_keys() { return table(); }

const KeyDef* find_key(std::string_view name) {
  for (const KeyDef& k : table())
    if (k.name == name) return &k;
  return nullptr;
}

bool listener_overridable(std::string_view key) {
  return key.starts_with("ssl.") || key.starts_with("sasl.") || key == "connections.max.reauth.ms" ||
         key == "max.connections" || key == "max.connection.creation.rate";
}

std::optional<std::string_view> listener_override_base(std::string_view key) {
  // Kafka lets the SASL keys of one mechanism differ from the others':
  // listener.name.<l>.<mechanism>.sasl.jaas.config, and
  // listener.name.<l>.<mechanism>.connections.max.reauth.ms (KIP-368).
  for (std::string_view mechanism : {"gssapi.", "plain.", "scram-sha-256.", "scram-sha-512.", "oauthbearer."}) {
    const std::string_view rest = key.substr(std::min(key.size(), mechanism.size()));
    if (key.starts_with(mechanism) && (rest.starts_with("sasl.") || rest == "connections.max.reauth.ms")) {
      key.remove_prefix(mechanism.size());
      break;
    }
  }
  const KeyDef* def = find_key(key);
  if (def == nullptr || !listener_overridable(key)) return std::nullopt;
  return def->name;
}

bool is_sensitive_key(std::string_view key) {
  return key.find("password") != std::string_view::npos || key.find("secret") != std::string_view::npos ||
         key.ends_with("sasl.jaas.config") || key.ends_with("ssl.keystore.key");
}

size_t edit_distance(std::string_view a, std::string_view b) {
  // Two-row Levenshtein; keys are short so O(|a|*|b|) is nothing.
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t subst = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::optional<std::string_view> kafka_key_without_effect(std::string_view name) {
  struct Ignored {
    std::string_view name;
    std::string_view why;
  };
  static constexpr Ignored kIgnored[] = {
      {"background.threads", "Keel's background work (retention, cleaning, expiry) runs on threads of its own"},
      {"metric.reporters", "metrics are served on /metrics (http.listeners), not through JMX reporter classes"},
      {"kafka.metrics.reporters", "metrics are served on /metrics (http.listeners), not through JMX reporter classes"},
      {"metrics.num.samples", "Keel's rates and quantiles keep their own windows (docs/metrics.md)"},
      {"metrics.sample.window.ms", "Keel's rates and quantiles keep their own windows (docs/metrics.md)"},
      {"metrics.recording.level", "every metric Keel has is always recorded"},
      {"socket.listen.backlog.size", "listeners use the operating system's backlog (net.core.somaxconn)"},
      {"replica.socket.receive.buffer.bytes", "the broker's own connections use the operating system's buffer sizes"},
      {"control.plane.listener.name",
       "the controller's requests go over inter.broker.listener.name; the listener itself is still opened"},
      {"broker.id.generation.enable", "broker.id is required; Keel does not generate broker ids"},
      {"reserved.broker.max.id", "broker.id is required; Keel does not generate broker ids"},
      {"ssl.protocol", "OpenSSL negotiates the best of ssl.enabled.protocols"},
      {"ssl.keymanager.algorithm", "a Java (JSSE) setting: OpenSSL reads the key store itself"},
      {"ssl.trustmanager.algorithm", "a Java (JSSE) setting: OpenSSL checks certificates itself"},
      {"ssl.secure.random.implementation", "a Java setting: OpenSSL's own random generator is used"},
      {"ssl.provider", "a Java setting: OpenSSL is the TLS implementation"},
      {"sasl.login.refresh.window.factor", "for SASL/OAUTHBEARER logins, which Keel does not offer"},
      {"sasl.login.refresh.window.jitter", "for SASL/OAUTHBEARER logins, which Keel does not offer"},
      {"sasl.login.refresh.min.period.seconds", "for SASL/OAUTHBEARER logins, which Keel does not offer"},
      {"sasl.login.refresh.buffer.seconds", "for SASL/OAUTHBEARER logins, which Keel does not offer"},
      {"zookeeper.clientCnxnSocket", "a Java ZooKeeper client setting: Keel uses the ZooKeeper C client"},
      {"zookeeper.max.in.flight.requests", "the ZooKeeper C client pipelines its requests itself"},
      {"fetch.purgatory.purge.interval.requests", "Keel's purgatories drop a request once it completes"},
      {"producer.purgatory.purge.interval.requests", "Keel's purgatories drop a request once it completes"},
      {"delete.records.purgatory.purge.interval.requests", "Keel's purgatories drop a request once it completes"},
      {"offsets.load.buffer.size", "the group coordinator reads __consumer_offsets batch by batch, with no buffer to size"},
      {"transaction.state.log.load.buffer.size",
       "the transaction coordinator reads __transaction_state batch by batch, with no buffer to size"},
      {"kafka.metrics.polling.interval.secs", "metrics are served on /metrics (http.listeners), not through JMX reporters"},
      {"telemetry.max.bytes", "client telemetry (KIP-714) is not offered: clients are not asked for metrics"},
      {"unstable.api.versions.enable", "Keel advertises only the request versions it implements"},
      {"unstable.feature.versions.enable", "Keel advertises only the request versions it implements"},
      {"delegation.token.expiry.time.ms", "delegation tokens are not offered (delegation.token.secret.key is refused)"},
      {"delegation.token.max.lifetime.ms", "delegation tokens are not offered (delegation.token.secret.key is refused)"},
      {"delegation.token.expiry.check.interval.ms",
       "delegation tokens are not offered (delegation.token.secret.key is refused)"},
      {"group.coordinator.new.enable", "groups use the classic protocol; KIP-848's is not offered (a KRaft feature)"},
      {"group.coordinator.rebalance.protocols",
       "groups use the classic protocol; KIP-848's is not offered (a KRaft feature)"},
      {"group.coordinator.threads", "the group coordinator runs on the broker's request threads"},
      {"group.coordinator.append.linger.ms", "the group coordinator appends each commit as it comes"},
  };
  for (const Ignored& k : kIgnored) {
    if (k.name == name) return k.why;
  }
  // Families of KRaft-era group settings: KIP-848 consumer groups and share groups.
  if (name.starts_with("group.consumer.") || name.starts_with("group.share.")) {
    return "groups use the classic protocol; KIP-848's consumer groups and share groups are not offered (KRaft features)";
  }
  return std::nullopt;
}

std::optional<std::string_view> kafka_key_refused(std::string_view name) {
  struct Refused {
    std::string_view name;
    std::string_view why;
  };
  static constexpr std::string_view kJavaClass =
      "a Java class to load, which Keel cannot; remove it (docs/compatibility.md says what Keel does instead)";
  static constexpr Refused kRefused[] = {
      {"principal.builder.class", kJavaClass},
      {"sasl.server.callback.handler.class", kJavaClass},
      {"create.topic.policy.class.name", kJavaClass},
      {"alter.config.policy.class.name", kJavaClass},
      {"client.quota.callback.class", kJavaClass},
      {"ssl.engine.factory.class", kJavaClass},
      {"delegation.token.secret.key", "delegation tokens are not offered: clients must authenticate with SASL or TLS"},
      {"delegation.token.master.key", "delegation tokens are not offered: clients must authenticate with SASL or TLS"},
  };
  for (const Refused& k : kRefused) {
    if (k.name == name) return k.why;
  }
  if (name.starts_with("zookeeper.ssl.")) {
    return "ZooKeeper over TLS is not offered: Debian's ZooKeeper C client is built without it (docs/security.md, "
           "digest authentication)";
  }
  return std::nullopt;
}

std::optional<std::string_view> nearest_key(std::string_view name) {
  // Compare case-insensitively and treat '_' and '-' as '.', so "LOG_DIRS"
  // and "num-partitions" are recognised as the dotted keys they mean.
  std::string norm(name);
  for (char& c : norm) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (c == '_' || c == '-') c = '.';
  }
  std::optional<std::string_view> best;
  size_t best_d = SIZE_MAX;
  for (const KeyDef& k : table()) {
    size_t d = edit_distance(norm, k.name);
    if (d < best_d) {
      best_d = d;
      best = k.name;
    }
  }
  // A typo is a few edits; anything further is a different key altogether.
  size_t limit = std::max<size_t>(2, std::min<size_t>(4, name.size() / 4));
  if (best && best_d <= limit) return best;
  return std::nullopt;
}

}  // namespace keel::config
