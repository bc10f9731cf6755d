"""Brokers replicating over SASL_SSL with GSSAPI (server/interbroker_sasl.h,
server/sasl_gssapi_client.h inside net::Client's TLS): TLS first, with the
other broker's certificate checked against the test CA and its host name
(ssl.endpoint.identification.algorithm https), then Kerberos from the test KDC
(kdc.py) with the broker's keytab and principal from the listener's
Krb5LoginModule line; the brokers' principal (User:kafka) is a super user of
the ACL authorizer. confluent-kafka produces with acks=all and consumes over
the same SASL_SSL GSSAPI listener.

A broker whose Kerberos principal (User:replica) is neither a super user nor
granted ClusterAction is refused as Kafka refuses it: its replica fetches get
TOPIC_AUTHORIZATION_FAILED for every partition (Kafka's answer to a follower
without CLUSTER_ACTION), the leader logs the refusal with the principal, the
follower stays out of the ISR; once AdminClient grants ClusterAction on the
cluster it catches up and joins the ISR. Controller requests
(LeaderAndIsr, UpdateMetadata, StopReplica) and AlterPartition from a
principal without ClusterAction are CLUSTER_AUTHORIZATION_FAILED."""

import re
import uuid

from confluent_kafka.admin import AdminClient, NewTopic
from kafka.admin import ACL, ACLOperation, ACLPermissionType, ACLResourcePatternType, KafkaAdminClient, ResourcePattern
from kafka.admin import ResourceType

from conftest import Broker
from kafka_schema import KafkaConnection
from kdc import REALM, kdc  # noqa: F401 (the kdc fixture)
from test_cluster import metadata, partition, wait_for, zk  # noqa: F401 (the zk fixture)
from test_gssapi import CLIENT, SERVICE, jaas, realm  # noqa: F401 (the realm fixture)
from test_interbroker_sasl import JAAS, PASSWORD, isr, produce_and_read_back, sasl_ssl_broker, start_replicated
from test_modern_security import pki  # noqa: F401 (the run's shared test PKI)
from test_tls import consume, produce, ssl_conf

REPLICA = "replica/127.0.0.1@" + REALM  # DEFAULT short name: replica


def secured_broker(workdir, broker_id, chroot, realm, pki, keytab=None, principal=SERVICE):
    """test_interbroker_sasl's SASL_SSL broker (PLAINTEXT for admin as
    ANONYMOUS, a super user; SASL_SSL for clients and between brokers, host
    names checked on the broker's own TLS connections) with GSSAPI in place of
    SCRAM and the ACL authorizer."""
    b = sasl_ssl_broker(workdir, broker_id, chroot, pki)
    scram = ("sasl.enabled.mechanisms: SCRAM-SHA-512\n"
             "sasl.mechanism.inter.broker.protocol: SCRAM-SHA-512\n"
             "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config: '%s'\n" % (JAAS % PASSWORD))
    text = b.config_path.read_text()
    assert scram in text
    b.config_path.write_text(text.replace(scram, (
        "sasl.enabled.mechanisms: GSSAPI\n"
        "sasl.mechanism.inter.broker.protocol: GSSAPI\n"
        "sasl.kerberos.service.name: kafka\n"
        "listener.name.sasl_ssl.gssapi.sasl.jaas.config: '%s'\n"
        "authorizer.class.name: kafka.security.authorizer.AclAuthorizer\n"
        "super.users: 'User:kafka;User:ANONYMOUS;User:client'\n"
        % jaas(keytab or realm.broker_keytab, principal))))
    return b


def gssapi_ssl_client(b, realm, pki):
    """confluent-kafka on the SASL_SSL listener as client@EXAMPLE.TEST, host name checked."""
    return ssl_conf(b, pki, "SASL_SSL", **{
        "security.protocol": "SASL_SSL", "ssl.endpoint.identification.algorithm": "https",
        "sasl.mechanisms": "GSSAPI", "sasl.kerberos.service.name": "kafka",
        "sasl.kerberos.keytab": str(realm.client_keytab), "sasl.kerberos.principal": CLIENT})


def stop_all(brokers):
    for b in brokers:
        if b.alive():
            b.stop()


def test_a_cluster_replicates_over_sasl_ssl_with_gssapi(zk, tmp_path, realm, pki):
    chroot = zk.connect + "/gssapi-ssl-" + uuid.uuid4().hex[:8]
    brokers = [secured_broker(tmp_path / ("g%d" % i), i, chroot, realm, pki) for i in (1, 2, 3)]
    try:
        start_replicated(brokers, "krb-tls", 3)
        produce_and_read_back(gssapi_ssl_client(brokers[1], realm, pki), gssapi_ssl_client(brokers[2], realm, pki),
                              "krb-tls", "g-krb-tls")
        leader = brokers[partition(brokers[0], "krb-tls").leader - 1]
        # The followers' fetchers reached the leader's SASL_SSL listener and
        # authenticated there as User:kafka over TLS.
        wait_for("the leader to log a follower's Kerberos login",
                 lambda: "authenticated as User:kafka with GSSAPI" in leader.log_text(), timeout=10)
        for b in brokers:
            text = b.log_text()
            assert "inter-broker connections use TLS (SASL_SSL)" in text
            assert "host names not checked" not in text
            assert "inter-broker connections authenticate with SASL GSSAPI as %s" % SERVICE in text
            assert "SASL authentication with GSSAPI failed" not in text
            assert "CLUSTER_AUTHORIZATION_FAILED" not in text
            assert "TOPIC_AUTHORIZATION_FAILED" not in text
        assert isr(brokers[0], "krb-tls") == [1, 2, 3]
    finally:
        stop_all(brokers)


def test_a_broker_principal_without_cluster_action_stays_out_of_the_isr_until_granted(zk, tmp_path, realm, pki):
    realm.add_principal("replica/127.0.0.1")
    # Broker 3's keytab: its own login principal and the acceptor key
    # (kafka/127.0.0.1) that clients and brokers dialling it ask tickets for.
    keytab3 = realm.keytab("replica.keytab", REPLICA, SERVICE)
    chroot = zk.connect + "/no-cluster-action-" + uuid.uuid4().hex[:8]
    brokers = [secured_broker(tmp_path / ("r%d" % i), i, chroot, realm, pki) for i in (1, 2)]
    third = secured_broker(tmp_path / "r3", 3, chroot, realm, pki, keytab=keytab3, principal=REPLICA)
    try:
        # 1 and 2 first, so one of them is the controller.
        start_replicated(brokers, "warmup", 2)
        third.start()
        wait_for("broker 3 registered", lambda: sorted(metadata(brokers[0]).brokers) == [1, 2, 3])
        admin = AdminClient({"bootstrap.servers": brokers[0].bootstrap})
        # Broker 3 follows partition 0, whose leader is broker 1.
        admin.create_topics([NewTopic("guarded", 1, replica_assignment=[[1, 3, 2]],
                                      config={"min.insync.replicas": "2"})])["guarded"].result(30)
        wait_for("the leader to refuse broker 3's fetches",
                 lambda: re.search(r"User:replica from 127\.0\.0\.1:\d+ may not ClusterAction the cluster: "
                                   r"Fetch refused", brokers[0].log_text()), timeout=20)
        wait_for("broker 3 to log the refusal",
                 lambda: "fetch from broker 1: TOPIC_AUTHORIZATION_FAILED" in third.log_text(), timeout=20)
        assert "inter-broker connections authenticate with SASL GSSAPI as %s" % REPLICA in third.log_text()
        wait_for("broker 3 out of the ISR", lambda: isr(brokers[0], "guarded") == [1, 2], timeout=20)
        reports, errors = produce(dict(gssapi_ssl_client(brokers[1], realm, pki), acks="all"), "guarded",
                                  [b"before-grant"], 30)
        assert reports == [None], errors
        assert isr(brokers[0], "guarded") == [1, 2]

        # ClusterAction on the cluster for User:replica, as kafka-acls or
        # AdminClient sets it: broker 3 catches up and joins the ISR.
        acls = KafkaAdminClient(bootstrap_servers=brokers[0].bootstrap)
        try:
            result = acls.create_acls([ACL("User:replica", "*", ACLOperation.CLUSTER_ACTION, ACLPermissionType.ALLOW,
                                           ResourcePattern(ResourceType.CLUSTER, "kafka-cluster",
                                                           ACLResourcePatternType.LITERAL))])
        finally:
            acls.close()
        assert len(result["succeeded"]) == 1 and result["failed"] == [], result
        wait_for("broker 3 in the ISR once granted", lambda: isr(brokers[0], "guarded") == [1, 2, 3], timeout=20)
        reports, errors = produce(dict(gssapi_ssl_client(brokers[0], realm, pki), acks="all"), "guarded",
                                  [b"after-grant"], 30)
        assert reports == [None], errors
        assert consume({"bootstrap.servers": third.bootstrap}, "guarded", 2, "g-guarded") == \
            [b"before-grant", b"after-grant"]
    finally:
        stop_all(brokers + [third])


CLUSTER_AUTHORIZATION_FAILED = 31


def test_controller_requests_without_cluster_action_are_refused(zk, tmp_path):
    """LeaderAndIsr, UpdateMetadata, StopReplica and AlterPartition from a
    principal (here ANONYMOUS) that is no super user and holds no ClusterAction."""
    b = Broker(tmp_path / "c1", broker_id=1, zookeeper=zk.connect + "/ctl-" + uuid.uuid4().hex[:8], extra_config=(
        "authorizer.class.name: kafka.security.authorizer.AclAuthorizer\n"
        "super.users: 'User:admin'\n"))
    b.start()
    try:
        with KafkaConnection(b.port) as c:
            lai = c.call("LeaderAndIsr", 5, {"ControllerId": 1, "ControllerEpoch": 99, "BrokerEpoch": -1,
                                             "Type": 0, "TopicStates": [], "LiveLeaders": []})
            assert lai["ErrorCode"] == CLUSTER_AUTHORIZATION_FAILED, lai
            um = c.call("UpdateMetadata", 7, {"ControllerId": 1, "ControllerEpoch": 99, "BrokerEpoch": -1,
                                              "TopicStates": [], "LiveBrokers": []})
            assert um["ErrorCode"] == CLUSTER_AUTHORIZATION_FAILED, um
            sr = c.call("StopReplica", 3, {"ControllerId": 1, "ControllerEpoch": 99, "BrokerEpoch": -1,
                                           "TopicStates": []})
            assert sr["ErrorCode"] == CLUSTER_AUTHORIZATION_FAILED, sr
            ap = c.call("AlterPartition", 2, {"BrokerId": 1, "BrokerEpoch": -1, "Topics": []})
            assert ap["ErrorCode"] == CLUSTER_AUTHORIZATION_FAILED, ap
            # The broker serves on: the controller epoch 99 was not taken.
            assert c.call("Metadata", 9, {"Topics": [], "AllowAutoTopicCreation": False,
                                          "IncludeClusterAuthorizedOperations": False,
                                          "IncludeTopicAuthorizedOperations": False})["Brokers"]
        text = b.log_text()
        for api in ("LeaderAndIsr", "UpdateMetadata", "StopReplica", "AlterPartition"):
            assert "User:ANONYMOUS from" in text and "may not ClusterAction the cluster: %s refused" % api in text, api
    finally:
        b.stop()
