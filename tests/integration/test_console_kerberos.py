"""The web console's Kerberos sign-in (docs/console.md) in a real browser:
Debian's headless Chromium, driven by Selenium, answers the broker's
`WWW-Authenticate: Negotiate` with a ticket from a throwaway MIT KDC
(kdc.py), as HTTP Negotiate (SPNEGO) on the broker's http listener
(http.spnego.*, test_spnego.py).

Nothing on the machine changes: Chromium may negotiate with the broker's host
because of its --auth-server-allowlist switch (the AuthServerAllowlist policy
would need a file under /etc/chromium), and chromedriver and Chromium get the
test realm's KRB5_CONFIG and one user's KRB5CCNAME in their environment only.
The broker is reached as http://localhost:<port>: Chromium asks for a ticket
to HTTP/<host name> and never negotiates with an IP literal.

alice may create topics (an ACL), bob may not: each signs in in a browser of
their own, the page names them (the broker's Keel-Principal header), alice
creates a topic from the page, bob's page is read-only and the same creation
sent from it anyway is refused (403, TOPIC_AUTHORIZATION_FAILED)."""

import json
import os
import shutil

import pytest
from kafka.admin import ACL, ACLOperation, ACLPermissionType, KafkaAdminClient, ResourcePattern, ResourceType

from conftest import free_port
from kdc import REALM, kdc  # noqa: F401  (kdc: the fixture)
from test_console import SHOTS, Page
from test_rest_api import Rest, start, wait_serving

CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(CHROMEDRIVER is None or shutil.which("chromium") is None,
                                reason="chromium and chromium-driver are not installed")

AUTHORIZER = ("authorizer.class.name: kafka.security.authorizer.AclAuthorizer\n"
              "allow.everyone.if.no.acl.found: false\n"
              # The test's own Kafka admin client connects as ANONYMOUS on PLAINTEXT.
              "super.users: User:ANONYMOUS\n")


@pytest.fixture
def krb_broker(make_broker, kdc):  # noqa: F811
    """A broker taking Kerberos (SPNEGO) on its http listener; users alice
    (may create and describe topics) and bob (no ACL at all)."""
    for name in ("HTTP/localhost", "alice", "bob"):
        kdc.add_principal(name)
    keytab = kdc.keytab("http.keytab", "HTTP/localhost@" + REALM)
    b = start(make_broker, AUTHORIZER + "http.spnego.enable: true\nhttp.spnego.keytab: %s\n" % keytab)
    admin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
    try:
        admin.create_acls([ACL("User:alice", "*", op, ACLPermissionType.ALLOW, pattern) for op, pattern in (
            (ACLOperation.CREATE, ResourcePattern(ResourceType.CLUSTER, "kafka-cluster")),
            (ACLOperation.DESCRIBE, ResourcePattern(ResourceType.CLUSTER, "kafka-cluster")),
            (ACLOperation.DESCRIBE, ResourcePattern(ResourceType.TOPIC, "*")),
            (ACLOperation.DESCRIBE_CONFIGS, ResourcePattern(ResourceType.TOPIC, "*")))])
    finally:
        admin.close()
    b.url = "http://localhost:%d" % b.http_port
    b.kdc = kdc
    return b


def kerberos_chromium(realm, user, trace):
    """Headless Chromium whose Kerberos is `user`'s ticket in a ccache of its
    own, allowed to negotiate with localhost; KRB5_TRACE goes to `trace`."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    ccache = realm.kinit("%s@%s" % (user, REALM), realm.keytab(user + ".keytab", "%s@%s" % (user, REALM)),
                         realm.dir / ("cc-" + user))
    env = dict(os.environ, **realm.env)
    env.update(KRB5CCNAME="FILE:%s" % ccache, KRB5_TRACE=str(trace))
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,800",
              "--no-first-run", "--disable-extensions", "--disable-background-networking", "--hide-scrollbars",
              # Chromium's --auth-server-allowlist: hosts it may answer Negotiate for.
              "--auth-server-allowlist=localhost", "--gssapi-library-name=libgssapi_krb5.so.2"):
        opts.add_argument(a)
    d = webdriver.Chrome(service=Service(CHROMEDRIVER, env=env), options=opts)
    d.set_page_load_timeout(20)
    return d


def kerberos_login(p, principal):
    p.d.get(p.base + "/")
    p.one("#login-kerberos")
    # The broker offers Negotiate, so the button stays; a password needs https.
    p.wait(lambda: p.one("#login-kerberos").is_displayed(), what="Kerberos offered")
    assert "passwords over https only" in p.text()
    if SHOTS:
        p.d.set_window_size(640, 560)
        p.shot("kerberos-login")
        p.d.set_window_size(1280, 800)
    p.click("#login-kerberos")
    p.wait(lambda: p.css("#principal") and p.css("#principal")[0].text == principal,
           what="signed in as " + principal)


def tickets_asked(trace, service):
    return trace.exists() and ("-> %s@%s" % (service, REALM)) in trace.read_text(errors="replace")


def test_kerberos_sign_in_in_chromium(krb_broker, make_broker, tmp_path):
    b, realm = krb_broker, krb_broker.kdc
    alice_trace, bob_trace = tmp_path / "alice-krb5.trace", tmp_path / "bob-krb5.trace"
    d = kerberos_chromium(realm, "alice", alice_trace)
    try:
        p = Page(d, b.url)
        kerberos_login(p, "User:alice")
        # Chromium asked the KDC for a ticket to the broker's HTTP service.
        assert tickets_asked(alice_trace, "HTTP/localhost"), alice_trace.read_text(errors="replace")[-2000:]
        assert "Kerberos (SPNEGO)" in p.one("#principal").get_attribute("title")
        p.wait(lambda: "Brokers" in p.text() and "healthy" in p.one("#health").text, what="brokers page")
        assert not p.one("#readonly").is_displayed()

        # alice creates a topic from the page: the broker does it as User:alice.
        p.go("#/topics")
        p.one("#new-topic-name").send_keys("made-by-alice")
        p.click("#create-topic")
        p.wait(lambda: d.current_url.endswith("#/topics/made-by-alice"), what="topic page")
        p.wait(lambda: "All partitions fully replicated" in p.text(), what="partitions")
        p.shot("kerberos-signed-in")
        admin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
        try:
            p.wait(lambda: "made-by-alice" in admin.list_topics(), what="topic made")
        finally:
            admin.close()
    finally:
        d.quit()

    d = kerberos_chromium(realm, "bob", bob_trace)
    try:
        p = Page(d, b.url)
        kerberos_login(p, "User:bob")
        # No ACL for bob: read-only, no create form; sent anyway, the creation is refused.
        p.wait(lambda: p.one("#readonly").is_displayed(), what="read-only badge")
        p.go("#/topics")
        assert not any(e.is_displayed() for e in p.css("#create-topic"))
        cid = d.execute_async_script("""
            const done = arguments[arguments.length - 1];
            fetch('/v3/clusters', {cache: 'no-store'}).then(r => r.json()).then(j => done(j.data[0].cluster_id));""")
        status, body, who = d.execute_async_script("""
            const done = arguments[arguments.length - 1];
            fetch('/v3/clusters/%s/topics', {method: 'POST', headers: {'Content-Type': 'application/json'},
              body: JSON.stringify({topic_name: 'made-by-bob', partitions_count: 1})})
              .then(r => r.text().then(t => done([r.status, t, r.headers.get('Keel-Principal')])));""" % cid)
        assert status == 403 and json.loads(body)["kafka_error_code"] == 29, body
        assert who == "User:bob"
        assert tickets_asked(bob_trace, "HTTP/localhost")

        # A broker without http.spnego.enable sends no Negotiate challenge: no Kerberos button.
        port = free_port()
        make_broker("plain", extra_config="http.listeners: http://127.0.0.1:%d\n" % port).start()
        wait_serving(Rest(port))
        p.d.get("http://localhost:%d/" % port)
        p.one("#login-anonymous")
        p.wait(lambda: not p.one("#login-kerberos").is_displayed(), what="Kerberos button hidden")
    finally:
        d.quit()
    admin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
    try:
        topics = admin.list_topics()
        assert "made-by-alice" in topics and "made-by-bob" not in topics
    finally:
        admin.close()
