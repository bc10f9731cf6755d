"""Kerberos on the broker's HTTP listener: HTTP Negotiate (SPNEGO, RFC 4559)
for the REST API (security/spnego.h, server/rest/rest_spnego.h), against a
throwaway MIT KDC (kdc.py) with Debian's curl (built with GSS-API) as the
client. A kinit'd principal's calls run as User:<auth_to_local short name>
(ACLs decide); no ticket, a ticket for another service, a foreign realm,
garbage, truncated, replayed and expired tokens are each answered 401 with a
JSON error, logged with the peer address, and the listener keeps serving."""

import base64
import http.client
import http.server
import json
import os
import shutil
import subprocess
import threading
import time
import uuid

import pytest
from kafka.admin import ACL, ACLOperation, ACLPermissionType, KafkaAdminClient, NewTopic, ResourcePattern, ResourceType

from conftest import KEEL_BIN, free_port
from kdc import OTHER_REALM, REALM, kdc  # noqa: F401  (kdc: the fixture)

pytestmark = pytest.mark.skipif(shutil.which("curl") is None or "SPNEGO" not in subprocess.run(
    ["curl", "-V"], capture_output=True, text=True).stdout, reason="curl without GSS-API/SPNEGO")

HTTP_SERVICE = "HTTP/localhost@" + REALM
KAFKA_SERVICE = "kafka/localhost@" + REALM
AUTHENTICATION_FAILED = 40101
# bob@EXAMPLE.TEST is User:robert; everybody else of the realm keeps DEFAULT's short name.
RULES = ("sasl.kerberos.principal.to.local.rules:\n"
         "  - RULE:[1:$1@$0](bob@EXAMPLE.TEST)s/.*/robert/\n"
         "  - DEFAULT\n")
AUTHORIZER = ("authorizer.class.name: kafka.security.authorizer.AclAuthorizer\n"
              "allow.everyone.if.no.acl.found: true\n")


@pytest.fixture
def realm(kdc):
    """The KDC with the broker's HTTP and Kafka keys in one keytab (as a
    broker serving both would keep them) and a few users."""
    for name in ("HTTP/localhost", "kafka/localhost", "kafka/127.0.0.1", "alice", "bob"):
        kdc.add_principal(name)
    kdc.add_principal("brief", maxlife="4 seconds")
    kdc.add_principal("alice", realm=OTHER_REALM)
    kdc.broker_keytab = kdc.keytab("broker.keytab", HTTP_SERVICE, KAFKA_SERVICE, "kafka/127.0.0.1@" + REALM)
    kdc.kafka_only_keytab = kdc.keytab("kafka-only.keytab", KAFKA_SERVICE)
    for user in ("alice", "bob", "brief"):
        kdc.keytab(user + ".keytab", "%s@%s" % (user, REALM))
    kdc.keytab("foreign.keytab", "alice@" + OTHER_REALM)
    return kdc


def ticket(realm, user, realm_name=REALM):
    """A ccache of its own holding `user`'s TGT; its path."""
    keytab = realm.dir / ("foreign.keytab" if realm_name != REALM else user + ".keytab")
    ccache = realm.dir / ("cc-%s-%s" % (user, uuid.uuid4().hex[:6]))
    realm.kinit("%s@%s" % (user, realm_name), keytab, ccache)
    return ccache


def curl(realm, url, ccache=None, service=None, headers=()):
    """curl --negotiate with `ccache` (None: an empty one): (status, JSON body or None, headers text)."""
    env = dict(os.environ, **realm.env)
    env["KRB5CCNAME"] = "FILE:%s" % (ccache or realm.dir / "no-such-ccache")
    port = url.split(":")[2].split("/")[0]
    args = ["curl", "-s", "-o", "-", "-D", "/dev/stderr", "-w", "\n%{http_code}", "--max-time", "20",
            "--resolve", "localhost:%s:127.0.0.1" % port, "--negotiate", "-u", ":"]
    if service:
        args += ["--service-name", service]
    for h in headers:
        args += ["-H", h]
    out = subprocess.run(args + [url], env=env, capture_output=True, text=True, timeout=30)
    body, _, code = out.stdout.rpartition("\n")
    return int(code), (json.loads(body) if body.strip() else None), out.stderr


def raw(port, path, authorization=None):
    """One request with exactly this Authorization value: (status, JSON body or None, headers)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    conn.request("GET", path, headers={"Authorization": authorization} if authorization else {})
    r = conn.getresponse()
    text = r.read()
    conn.close()
    is_json = "json" in (r.getheader("Content-Type") or "")
    return r.status, (json.loads(text) if text and is_json else None), r.getheaders()


def challenges(headers):
    return [v for k, v in headers if k.lower() == "www-authenticate"]


def spnego_broker(make_broker, realm, extra, listeners=None):
    port = free_port()
    b = make_broker(extra_config="http.listeners: http://127.0.0.1:%d\n%s%s%s" % (port, AUTHORIZER, RULES, extra))
    if listeners:
        old = "listeners: PLAINTEXT://127.0.0.1:%d\n" % b.port
        b.config_path.write_text(b.config_path.read_text().replace(old, listeners % b.port))
    b.start()
    b.url = "http://localhost:%d" % port
    b.http_port = port
    return b


def cluster_id(realm, b, ccache):
    deadline = time.time() + 20
    while True:
        status, body, _ = curl(realm, b.url + "/v3/clusters", ccache)
        if status == 200:
            return body["data"][0]["cluster_id"]
        assert time.time() < deadline, (status, body)
        time.sleep(0.2)


class TokenCatcher:
    """A stand-in HTTP server that challenges with Negotiate and keeps the
    token curl answers with (valid for HTTP/localhost, so for keel too), so a
    test can replay, cut or age a real token."""

    def __init__(self):
        tokens = self.tokens = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                auth = self.headers.get("Authorization")
                if auth:
                    tokens.append(auth)
                self.send_response(200 if auth else 401)
                if not auth:
                    self.send_header("WWW-Authenticate", "Negotiate")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def catch(self, realm, ccache):
        before = len(self.tokens)
        curl(realm, "http://localhost:%d/" % self.port, ccache)
        assert len(self.tokens) == before + 1, "curl sent no Negotiate token"
        return self.tokens[-1]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_curl_negotiate_runs_as_the_kerberos_principal(make_broker, realm):
    # The keytab comes from the GSSAPI listener's JAAS line (it holds HTTP/localhost too).
    sasl_port = free_port()
    b = spnego_broker(make_broker, realm, (
        "sasl.enabled.mechanisms: GSSAPI\nsasl.kerberos.service.name: kafka\n"
        "listener.name.sasl_plaintext.gssapi.sasl.jaas.config: 'com.sun.security.auth.module.Krb5LoginModule "
        "required useKeyTab=true storeKey=true keyTab=\"%s\" principal=\"%s\";'\n" % (realm.broker_keytab,
                                                                                    KAFKA_SERVICE) +
        "http.spnego.enable: true\n"),
        listeners="listeners: PLAINTEXT://127.0.0.1:%%d, SASL_PLAINTEXT://127.0.0.1:%d\n" % sasl_port)
    assert "Kerberos (SPNEGO) on the HTTP listener: tickets to any HTTP/ key of keytab %s" % realm.broker_keytab \
        in b.log_text()
    alice, bob = ticket(realm, "alice"), ticket(realm, "bob")
    cid = cluster_id(realm, b, alice)
    base = b.url + "/v3/clusters/" + cid
    admin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
    try:
        admin.create_topics([NewTopic("alices", 1, 1), NewTopic("roberts", 1, 1)])
        # Each topic may be described by one Kerberos user only, under the name the rules give.
        admin.create_acls([
            ACL("User:alice", "*", ACLOperation.DESCRIBE, ACLPermissionType.ALLOW,
                ResourcePattern(ResourceType.TOPIC, "alices")),
            ACL("User:robert", "*", ACLOperation.DESCRIBE, ACLPermissionType.ALLOW,
                ResourcePattern(ResourceType.TOPIC, "roberts"))])
        deadline = time.time() + 15
        while curl(realm, base + "/topics/roberts", alice)[0] != 403:
            assert time.time() < deadline, "the ACLs never applied"
            time.sleep(0.2)
        status, body, head = curl(realm, base + "/topics/alices", alice)
        assert status == 200 and body["topic_name"] == "alices", body
        # The mutual-authentication token comes back with the answer (curl checked it).
        assert "WWW-Authenticate: Negotiate " in head, head
        status, body, _ = curl(realm, base + "/topics/alices", bob)
        assert status == 403 and body["kafka_error_code"] == 29, body
        assert curl(realm, base + "/topics/roberts", bob)[0] == 200
        # No ticket: 401 with the challenge, a JSON error; /metrics stays open.
        status, body, head = curl(realm, base + "/topics/alices")
        assert status == 401 and body["error_code"] == AUTHENTICATION_FAILED, body
        status, body, headers = raw(b.http_port, "/v3/clusters")
        assert status == 401 and body["error_code"] == AUTHENTICATION_FAILED and "authentication required" in \
            body["message"], body
        assert challenges(headers) == ["Negotiate"], headers
        assert raw(b.http_port, "/metrics")[0] == 200
    finally:
        admin.close()


def test_bad_tokens_get_401_and_the_listener_serves_others(make_broker, realm):
    b = spnego_broker(make_broker, realm, "http.spnego.enable: true\nhttp.spnego.keytab: %s\n"
                                          "http.spnego.principal: HTTP/localhost\n" % realm.broker_keytab)
    assert "tickets to %s from keytab %s" % (HTTP_SERVICE, realm.broker_keytab) in b.log_text()
    alice = ticket(realm, "alice")
    brief = ticket(realm, "brief")  # lives 4 s
    catcher = TokenCatcher()
    try:
        aged = catcher.catch(realm, brief)
        kept = catcher.catch(realm, alice)
    finally:
        catcher.close()
    cid = cluster_id(realm, b, alice)
    path = "/v3/clusters/%s/topics" % cid

    def refused(authorization, words):
        status, body, headers = raw(b.http_port, path, authorization)
        assert status == 401 and body["error_code"] == AUTHENTICATION_FAILED, (authorization[:40], status, body)
        assert words in body["message"], body
        assert "Negotiate" in challenges(headers), headers
        return body["message"]

    refused("Negotiate !!!not-base64", "not base64")
    refused("Negotiate", "no token")
    refused("Negotiate " + base64.b64encode(b"garbage, not a GSS-API token").decode(), "Kerberos authentication failed")
    refused("Bearer abc", "only Negotiate (Kerberos) and Basic")
    token = kept.split(" ", 1)[1]
    refused("Negotiate " + base64.b64encode(base64.b64decode(token)[:200]).decode(), "Kerberos authentication failed")
    # A ticket for the broker's Kafka service, whose key the keytab holds too.
    status, body, _ = curl(realm, b.url + path, alice, service="kafka")
    assert status == 401 and body["error_code"] == AUTHENTICATION_FAILED, body
    # A client of the trusting realm OTHER.TEST: valid ticket, no rule maps it.
    status, body, _ = curl(realm, b.url + path, ticket(realm, "alice", OTHER_REALM))
    assert status == 401 and "no sasl.kerberos.principal.to.local.rules rule maps alice@OTHER.TEST" in \
        body["message"], body
    # The caught token works once; the same token again is a replay.
    assert raw(b.http_port, path, kept)[0] == 200
    refused(kept, "Kerberos authentication failed")
    # A token whose ticket has expired (4 s life + the realm's 2 s clock skew).
    time.sleep(max(0.0, 7.0 - (time.time() - os.path.getmtime(brief))))
    message = refused(aged, "Kerberos authentication failed")
    assert "expired" in message.lower(), message
    # Through all of it the listener served the others.
    assert curl(realm, b.url + path, alice)[0] == 200
    log = b.log_text()
    assert log.count("REST Kerberos (SPNEGO) authentication failed from 127.0.0.1:") >= 8, log[-3000:]
    assert "alice@OTHER.TEST" in log and "kafka/localhost@EXAMPLE.TEST" in log


def start_fails(b):
    out = subprocess.run([KEEL_BIN, "--config", str(b.config_path)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1, (out.returncode, out.stderr)
    return out.stderr


def test_unusable_spnego_settings_stop_the_start(make_broker, realm):
    def broker(name, extra):
        return make_broker(name, extra_config="http.listeners: http://127.0.0.1:%d\nhttp.spnego.enable: true\n%s"
                           % (free_port(), extra))

    assert "http.spnego.keytab is not set and no GSSAPI listener names a keytab" in start_fails(broker("none", ""))
    err = start_fails(broker("kafka-only", "http.spnego.keytab: %s\n" % realm.kafka_only_keytab))
    assert "holds no HTTP/<host>@REALM key" in err, err
    err = start_fails(broker("other-host", "http.spnego.keytab: %s\nhttp.spnego.principal: HTTP/elsewhere\n"
                             % realm.broker_keytab))
    assert "has no key for http.spnego.principal HTTP/elsewhere@EXAMPLE.TEST" in err, err
    err = start_fails(broker("missing", "http.spnego.keytab: %s\n" % (realm.dir / "missing.keytab")))
    assert "cannot read keytab %s" % (realm.dir / "missing.keytab") in err, err

