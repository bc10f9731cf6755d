"""The web console (docs/console.md) in a real browser: Debian's headless
Chromium driven by Selenium against a real keel process. The broker serves
the console over an https HTTP listener whose certificate comes from the test
CA (tests/integration/pki.py); Chromium runs with --ignore-certificate-errors
rather than a trust store of its own. Also the console's server side without
a browser: the message browser route (offset, time, server-side search,
download and its cap, READ refused) and a group's lag trend.

The reassignment wizard runs against three brokers on ZooKeeper (`cluster`).

Screenshots of the main pages go to KEEL_CONSOLE_SHOTS when it is set
(docs/console/ holds the committed ones)."""

import base64
import http.client
import json
import os
import shutil
import ssl
import time
import urllib.parse
import uuid

import pytest
from confluent_kafka.admin import AdminClient, NewTopic as CkNewTopic
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.structs import OffsetAndMetadata

from conftest import Broker, free_port
from pki import Pki
from test_cluster import metadata, wait_for, zk  # noqa: F401 (fixture)
from test_rest_api import Rest, start, wait_serving
from test_sasl import hash_line

CHROMEDRIVER = shutil.which("chromedriver")
needs_browser = pytest.mark.skipif(CHROMEDRIVER is None or shutil.which("chromium") is None,
                                   reason="chromium and chromium-driver are not installed")
SHOTS = os.environ.get("KEEL_CONSOLE_SHOTS")

AUTHORIZER = ("authorizer.class.name: kafka.security.authorizer.AclAuthorizer\n"
              "allow.everyone.if.no.acl.found: false\n"
              # The test's own Kafka clients connect as ANONYMOUS on PLAINTEXT.
              "super.users: User:admin;User:ANONYMOUS\n")


def acl(principal, rtype, name, operation, pattern="LITERAL"):
    return {"resource_type": rtype, "resource_name": name, "pattern_type": pattern, "principal": principal,
            "host": "*", "operation": operation, "permission": "ALLOW"}


@pytest.fixture
def console_broker(make_broker, tmp_path):
    """One broker with an https listener, PLAIN users admin (a super user) and
    reader (may describe and read the orders* topics and describe groups), a
    topic `orders` holding 30 records and a group `billing` committed at 10."""
    pki = Pki(tmp_path / "pki")
    creds = tmp_path / "plain-users"
    creds.write_text("%s\n%s\n" % (hash_line("admin", "admin-secret"), hash_line("reader", "reader-secret")))
    b = start(make_broker, AUTHORIZER +
              "ssl.keystore.type: PEM\nssl.keystore.location: %s\n" % pki.path("broker-store.pem") +
              "sasl.plain.credentials.file: %s\n" % creds +
              "console.lag.history.interval.ms: 300\n"
              "console.records.download.max.bytes: 1500\n", scheme="https")
    ctx = ssl.create_default_context(cafile=str(pki.path("ca.pem")))
    b.admin_rest = Rest(b.http_port, ctx, ("admin", "admin-secret"))
    b.reader_rest = Rest(b.http_port, ctx, ("reader", "reader-secret"))
    b.cid = wait_serving(b.admin_rest)
    status, body, _ = b.admin_rest.call("POST", "/v3/clusters/%s/acls:batch" % b.cid, {"data": [
        acl("User:reader", "TOPIC", "orders", op, "PREFIXED") for op in ("READ", "DESCRIBE", "DESCRIBE_CONFIGS")] + [
        acl("User:reader", "GROUP", "*", "DESCRIBE"), acl("User:reader", "CLUSTER", "kafka-cluster", "DESCRIBE")]})
    assert status == 201, body
    admin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
    admin.create_topics([NewTopic("orders", 1, 1), NewTopic("secret", 1, 1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=b.bootstrap)
    b.produced_at = int(time.time() * 1000)
    for i in range(30):
        value = ("order %d needle" % i) if i == 17 else ("order %d" % i)
        headers = [("trace", b"abc-%d" % i)] + ([("binary", b"\xff\xfe")] if i == 3 else [])
        producer.send("orders", key=b"k%d" % i, value=value.encode(), headers=headers, partition=0,
                      timestamp_ms=b.produced_at + i * 1000)
    producer.send("secret", value=b"hidden", partition=0)
    producer.flush()
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id="billing", enable_auto_commit=False)
    consumer.commit({TopicPartition("orders", 0): OffsetAndMetadata(10, None)})
    consumer.close()
    return b


def records(rest, cid, topic, **query):
    status, body, headers = rest.call("GET", "/keel/v1/clusters/%s/topics/%s/records?%s"
                                      % (cid, topic, urllib.parse.urlencode(query)))
    return status, body, headers


def raw_get(rest, path):
    """(status, body bytes, headers) without parsing: downloads are JSON lines."""
    conn = http.client.HTTPSConnection("127.0.0.1", rest.port, context=rest.tls, timeout=30)
    conn.request("GET", path, headers={"Authorization": rest.auth})
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, body, dict(r.getheaders())


def test_records_browser_and_lag_history_routes(console_broker):
    b = console_broker
    admin, reader = b.admin_rest, b.reader_rest
    # From an offset, with keys, values and headers; binary bytes come as base64.
    status, body, _ = records(admin, b.cid, "orders", partition=0, offset=2, limit=3)
    assert status == 200, body
    assert [r["offset"] for r in body["data"]] == [2, 3, 4] and body["next_offset"] == 5
    assert body["high_watermark"] == 30 and body["log_start_offset"] == 0
    r3 = body["data"][1]
    assert r3["key"] == "k3" and r3["value"] == "order 3" and r3["timestamp"] == b.produced_at + 3000
    assert r3["headers"][0] == {"key": "trace", "value": "abc-3"}
    assert r3["headers"][1]["value_encoding"] == "base64" and base64.b64decode(r3["headers"][1]["value"]) == b"\xff\xfe"
    # From a time: the first record at or after it.
    status, body, _ = records(admin, b.cid, "orders", timestamp=b.produced_at + 25500, limit=50)
    assert status == 200 and [r["offset"] for r in body["data"]] == [26, 27, 28, 29]
    # The search runs on the broker, over the chosen fields.
    status, body, _ = records(admin, b.cid, "orders", search="needle")
    assert status == 200 and [r["offset"] for r in body["data"]] == [17] and body["next_offset"] == 30
    assert records(admin, b.cid, "orders", search="needle", **{"in": "key,headers"})[1]["data"] == []
    assert [r["offset"] for r in records(admin, b.cid, "orders", search="abc-21", **{"in": "headers"})[1]["data"]] == [21]
    # Download: JSON lines, stopped at console.records.download.max.bytes (1500 here).
    path = "/keel/v1/clusters/%s/topics/orders/records?format=download" % b.cid
    status, body, headers = raw_get(admin, path)
    assert status == 200 and headers["X-Keel-Truncated"] == "true"
    assert "attachment" in headers["Content-Disposition"] and len(body) <= 1500
    lines = [json.loads(x) for x in body.decode().splitlines()]
    next_offset = int(headers["X-Keel-Next-Offset"])
    assert 0 < next_offset < 30 and [r["offset"] for r in lines] == list(range(next_offset))
    status, body, headers = raw_get(admin, path + "&offset=25")
    assert status == 200 and headers["X-Keel-Truncated"] == "false" and len(body.decode().splitlines()) == 5
    # Bad input: 400, nothing read.
    for bad in ({"offset": "x"}, {"limit": "0"}, {"offset": 1, "timestamp": 2}, {"in": "body"}, {"color": "red"}):
        assert records(admin, b.cid, "orders", **bad)[0] == 400, bad
    assert records(admin, b.cid, "nope", offset=0)[0] in (403, 404)
    # READ is needed, as for a consumer: reader may read orders, not secret.
    assert records(reader, b.cid, "orders", offset=0, limit=1)[0] == 200
    status, body, _ = records(reader, b.cid, "secret", offset=0)
    assert status == 403 and body["kafka_error_code"] == 29, body
    assert raw_get(reader, "/keel/v1/clusters/%s/topics/secret/records?format=download" % b.cid)[0] == 403

    # The lag trend: sampled every 300 ms by the coordinator; the group lags 20.
    def samples(rest):
        status, body, _ = rest.call("GET", "/keel/v1/clusters/%s/consumer-groups/billing/lag-history" % b.cid)
        assert status == 200, body
        return body["data"]
    deadline = time.time() + 15
    while len(samples(admin)) < 2:
        assert time.time() < deadline, "no lag samples"
        time.sleep(0.3)
    s = samples(reader)
    assert s[-1]["lag"] == 20 and s[-1]["lag_seconds"] is not None and s[-1]["lag_seconds"] >= 0
    assert all(x["time"] <= y["time"] for x, y in zip(s, s[1:]))
    status, _, _ = admin.call("GET", "/keel/v1/clusters/%s/consumer-groups/none-such/lag-history" % b.cid)
    assert status == 404


def test_console_files_are_served_from_the_binary(console_broker):
    rest = console_broker.admin_rest
    status, _, headers = raw_get(rest, "/")
    assert status == 302 and headers["Location"] == "/console/"
    conn = http.client.HTTPSConnection("127.0.0.1", console_broker.http_port, context=rest.tls, timeout=10)
    conn.request("GET", "/console/", headers={"Accept-Encoding": "gzip"})
    r = conn.getresponse()
    body = r.read()
    assert r.status == 200 and r.getheader("Content-Type").startswith("text/html")
    assert r.getheader("Content-Encoding") == "gzip" and b"<title>Keel console" in __import__("gzip").decompress(body)
    etag = r.getheader("ETag")
    conn.request("GET", "/console/index.html", headers={"If-None-Match": etag})
    r = conn.getresponse()
    r.read()
    assert r.status == 304
    conn.request("GET", "/console/js/app.js")
    r = conn.getresponse()
    js = r.read()
    assert r.status == 200 and r.getheader("Content-Type").startswith("text/javascript") and b"import" in js
    # Nothing from another origin: no http(s):// URLs in what the page loads.
    for name in ("index.html", "style.css", "js/app.js", "js/api.js", "js/ui.js"):
        conn.request("GET", "/console/" + name)
        r = conn.getresponse()
        text = r.read().decode()
        assert r.status == 200 and "http://" not in text.replace("http://www.w3.org/2000/svg", "") \
            and "https://" not in text, name
    conn.request("GET", "/console/nope.js")
    r = conn.getresponse()
    r.read()
    assert r.status == 404
    conn.close()


# --- in the browser ------------------------------------------------------------------------------

def chrome(width, height):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--ignore-certificate-errors", "--window-size=%d,%d" % (width, height), "--no-first-run",
              "--disable-extensions", "--disable-background-networking", "--hide-scrollbars"):
        opts.add_argument(a)
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    d.set_page_load_timeout(20)
    return d


class Page:
    def __init__(self, driver, base):
        self.d = driver
        self.base = base

    def go(self, hash_):
        """Opens #/<page> and waits until the console has drawn it."""
        same = self.d.execute_script("const m = document.getElementById('main'); const was = location.hash; "
                                     "if (m) delete m.dataset.route; return was;") == hash_
        self.d.get(self.base + "/console/" + hash_)
        if same:
            self.d.refresh()
        self.wait(lambda: self.d.execute_script("return document.getElementById('main').dataset.route") ==
                  hash_[1:].split("?")[0], what="page " + hash_)

    def wait(self, cond, timeout=15, what="condition"):
        deadline = time.time() + timeout
        while True:
            try:
                value = cond()
            except Exception:  # an element not there yet
                value = None
            if value:
                return value
            assert time.time() < deadline, "%s never held; page: %s" % (what, self.text()[:1500])
            time.sleep(0.1)

    def click(self, selector):
        """Clicks like a user, without a sticky header or a message in the way."""
        self.d.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();",
                              self.one(selector))

    def css(self, selector):
        return self.d.find_elements("css selector", selector)

    def one(self, selector):
        return self.wait(lambda: self.css(selector)[0], what=selector)

    def text(self):
        try:
            return self.d.find_element("css selector", "body").text
        except Exception:
            return ""

    def shot(self, name):
        if SHOTS:
            os.makedirs(SHOTS, exist_ok=True)
            self.d.save_screenshot(os.path.join(SHOTS, name + ".png"))

    def login(self, user, password):
        self.d.get(self.base + "/")
        self.one("#login-user").send_keys(user)
        self.one("#login-password").send_keys(password)
        self.click("#login")
        self.wait(lambda: self.css("#principal") and self.css("#principal")[0].text == "User:" + user,
                  what="signed in as " + user)


@needs_browser
def test_console_in_chromium(console_broker):
    b = console_broker
    base = "https://127.0.0.1:%d" % b.http_port
    d = chrome(1280, 900)
    try:
        p = Page(d, base)
        # / redirects to the sign-in page; sign in with a password (HTTP Basic over https).
        p.login("admin", "admin-secret")
        p.wait(lambda: "Brokers" in p.text() and b.cid in p.text(), what="brokers page")
        assert "healthy" in p.one("#health").text
        assert not p.one("#readonly").is_displayed()
        p.shot("brokers-desktop")

        # Create a topic.
        p.go("#/topics")
        name = "made-in-console"
        p.one("#new-topic-name").send_keys(name)
        d.find_element("css selector", "input[name=partitions]").clear()
        d.find_element("css selector", "input[name=partitions]").send_keys("3")
        p.click("#create-topic")
        p.wait(lambda: d.current_url.endswith("#/topics/" + name) and "3 partitions" in p.text(), what="topic page")
        status, topic, _ = b.admin_rest.call("GET", "/v3/clusters/%s/topics/%s" % (b.cid, name))
        assert status == 200 and topic["partitions_count"] == 3
        p.wait(lambda: "All partitions fully replicated" in p.text(), what="partitions")
        p.shot("topic-partitions-desktop")

        # Change its retention: the row is highlighted as changed from the default.
        p.go("#/topics/%s/configs" % name)
        box = p.one("input[name='retention.ms']")
        box.clear()
        box.send_keys("7200000")
        p.click("button[data-config='retention.ms']")
        p.wait(lambda: any("retention.ms" in r.text and "2 h" in r.text for r in p.css("tr.changed")),
               what="retention.ms highlighted")
        status, cfg, _ = b.admin_rest.call("GET", "/v3/clusters/%s/topics/%s/configs/retention.ms" % (b.cid, name))
        assert status == 200 and cfg["value"] == "7200000" and cfg["is_default"] is False
        p.shot("topic-configs-desktop")

        # Reset a group's offsets: preview first (nothing committed), then apply.
        p.go("#/groups")
        p.wait(lambda: "billing" in p.text(), what="groups list")
        p.shot("groups-desktop")
        p.go("#/groups/billing")
        p.wait(lambda: p.one("#total-lag").text == "20", what="lag 20")
        p.wait(lambda: p.css("svg.chart path.line"), what="lag trend")
        p.shot("group-desktop")
        from selenium.webdriver.support.ui import Select
        Select(p.one("select[name=to]")).select_by_value("offset")
        p.one("input[name=value]").send_keys("25")
        p.click("#reset-preview-button")
        p.wait(lambda: "Preview" in p.one("#reset-preview").text and "25" in p.one("#reset-preview").text)
        status, lags, _ = b.admin_rest.call("GET", "/v3/clusters/%s/consumer-groups/billing/lags" % b.cid)
        assert lags["data"][0]["current_offset"] == 10  # the preview changed nothing
        p.shot("group-reset-preview-desktop")
        p.click("#reset-apply")
        p.wait(lambda: b.admin_rest.call("GET", "/v3/clusters/%s/consumer-groups/billing/lags" % b.cid)[1]
               ["data"][0]["current_offset"] == 25, what="offset 25 committed")
        p.wait(lambda: p.one("#total-lag").text == "5", what="lag 5 shown")

        # Browse and search messages.
        p.go("#/messages/orders")
        p.click("#browse")
        p.wait(lambda: len(p.css("#records tbody tr")) == 30, what="30 records")
        assert "base64:" in p.one("#records").text  # the binary header
        p.one("#search").send_keys("needle")
        p.click("#browse")
        p.wait(lambda: len(p.css("#records tbody tr")) == 1 and "order 17 needle" in p.one("#records").text,
               what="one match")
        p.shot("messages-desktop")

        # Phone size: the same pages, tables as cards, the menu folded.
        d.set_window_size(390, 844)
        p.go("#/groups/billing")
        assert p.one("#menu").is_displayed() and not p.one("#nav").is_displayed()
        p.shot("group-phone")
        p.go("#/topics/%s/configs" % name)
        p.shot("topic-configs-phone")
        p.click("#menu")
        p.wait(lambda: p.one("#nav").is_displayed(), what="menu opens")
        p.shot("menu-phone")
        d.set_window_size(1280, 900)

        # A principal without alter rights: read-only, writes hidden, and refused when tried anyway.
        p.click("#logout")
        p.login("reader", "reader-secret")
        p.wait(lambda: p.one("#readonly").is_displayed(), what="read-only badge")
        p.go("#/topics")
        assert "orders" in p.text() and "secret" not in p.text()
        assert not any(e.is_displayed() for e in p.css("#create-topic"))
        p.go("#/topics/orders/configs")
        assert not p.css("button[data-config]")
        p.shot("read-only-desktop")
        status = d.execute_async_script("""
            const done = arguments[arguments.length - 1];
            const s = JSON.parse(sessionStorage.getItem('keel.console.auth'));
            fetch('/v3/clusters/%s/topics/orders/configs/retention.ms', {method: 'PUT',
              headers: {'Authorization': 'Basic ' + s.token, 'Content-Type': 'application/json'},
              body: JSON.stringify({value: '1000'})}).then(r => done(r.status));""" % b.cid)
        assert status == 403
        p.go("#/groups/billing")
        assert not any(e.is_displayed() for e in p.css("#reset-preview-button"))
        p.go("#/messages/secret")
        p.click("#browse")
        p.wait(lambda: "Refused by the broker's ACLs" in p.text(), what="READ refused")
    finally:
        d.quit()


# --- the reassignment wizard on three brokers ----------------------------------------------------

@pytest.fixture
def console_cluster(zk, tmp_path):
    """Three brokers (1, 2, 3) on ZooKeeper, each with an https listener (the
    test CA's certificate) and the PLAIN user admin; no authorizer."""
    pki = Pki(tmp_path / "pki")
    creds = tmp_path / "plain-users"
    creds.write_text(hash_line("admin", "admin-secret") + "\n")
    chroot = zk.connect + "/console-" + uuid.uuid4().hex[:8]
    ctx = ssl.create_default_context(cafile=str(pki.path("ca.pem")))
    brokers = {}
    try:
        for i in (1, 2, 3):
            port = free_port()
            b = Broker(tmp_path / ("b%d" % i), broker_id=i, zookeeper=chroot, extra_config=(
                "http.listeners: https://127.0.0.1:%d\n" % port +
                "ssl.keystore.type: PEM\nssl.keystore.location: %s\n" % pki.path("broker-store.pem") +
                "sasl.plain.credentials.file: %s\n" % creds))
            b.http_port = port
            b.rest = Rest(port, ctx, ("admin", "admin-secret"))
            brokers[i] = b.start()
        for b in brokers.values():
            wait_for("broker %d to see 3 brokers" % b.broker_id, lambda b=b: len(metadata(b).brokers) == 3,
                     timeout=30)
        yield brokers
    finally:
        for b in brokers.values():
            b.stop()


def in_sync_replicas(b, topic):
    """{partition: (replicas, isr)} from confluent-kafka's AdminClient metadata."""
    t = metadata(b, topic).topics[topic]
    assert t.error is None, t.error
    return {p: (sorted(i.replicas), sorted(i.isrs)) for p, i in t.partitions.items()}


def preview_rf(p, rf, moves):
    """Asks the wizard for a preview of the replication factor rf; waits for its moves."""
    box = p.one("#rf-value")
    box.clear()
    box.send_keys(str(rf))
    p.click("#rf-preview")
    p.wait(lambda: len(p.css("#plan table.moves tbody tr")) == moves, what="a %d-move preview" % moves)


@needs_browser
def test_replication_factor_wizard_in_a_cluster(console_cluster):
    brokers = console_cluster
    ctrl = wait_for("a controller", lambda: brokers.get(metadata(brokers[1]).controller_id), timeout=30)
    other = next(b for i, b in brokers.items() if i != ctrl.broker_id)
    cid = wait_serving(ctrl.rest)
    topic = "wizard-" + uuid.uuid4().hex[:6]
    admin = AdminClient({"bootstrap.servers": ctrl.bootstrap})
    admin.create_topics([CkNewTopic(topic, num_partitions=3, replication_factor=1)])[topic].result(15)
    # Every broker knows the topic before the console asks (the plan reads the broker's metadata).
    for b in brokers.values():
        wait_for("broker %d to know %s" % (b.broker_id, topic),
                 lambda b=b: b.rest.call("GET", "/v3/clusters/%s/topics/%s" % (cid, topic))[0] == 200, timeout=15)
    assert all(len(r) == 1 for r, _ in in_sync_replicas(ctrl, topic).values())
    d = chrome(1280, 900)
    try:
        # On a broker that is not the controller: previews work; applying is the
        # controller's, and the wizard names it (421 with Keel-Controller-Id).
        p = Page(d, "https://127.0.0.1:%d" % other.http_port)
        p.login("admin", "admin-secret")
        p.go("#/reassign/%s" % topic)
        banner = p.wait(lambda: p.one("#not-controller").is_displayed() and p.one("#not-controller").text,
                        what="the not-the-controller banner")
        assert "controller, broker %d on host 127.0.0.1" % ctrl.broker_id in banner, banner
        preview_rf(p, 3, moves=3)
        p.click("#apply-moves")
        p.wait(lambda: any("controller, broker %d" % ctrl.broker_id in t.text for t in p.css("#toasts .toast.error")),
               what="the apply refused, naming the controller")
        p.d.execute_script("window.scrollTo(0, 0)")
        p.shot("wizard-not-controller")
        assert all(len(r) == 1 for r, _ in in_sync_replicas(ctrl, topic).values())  # nothing moved

        # On the controller: preview (new replicas in green), apply, follow it to the end.
        p = Page(d, "https://127.0.0.1:%d" % ctrl.http_port)
        p.login("admin", "admin-secret")
        p.go("#/reassign/%s" % topic)
        p.wait(lambda: "No reassignment in progress" in p.one("#reassign-status").text, what="nothing moving")
        assert not p.one("#not-controller").is_displayed()
        assert p.one("#rf-topic").get_attribute("value") == topic
        preview_rf(p, 3, moves=3)
        assert "Preview: %s to replication factor 3" % topic in p.one("#plan").text
        for row in p.css("#plan table.moves tbody tr"):
            cells = row.find_elements("css selector", "td")
            current, target = cells[2].text.split(", "), cells[3].text.split(", ")
            assert len(current) == 1 and sorted(target) == ["1", "2", "3"] and target[0] == current[0]
            assert len(row.find_elements("css selector", "span.added")) == 2  # the new replicas, in green
        assert all(len(r) == 1 for r, _ in in_sync_replicas(ctrl, topic).values())  # a preview changes nothing
        p.d.execute_script("document.getElementById('plan').scrollIntoView()")
        p.shot("wizard-preview")
        p.click("#apply-moves")
        p.wait(lambda: "Submitted" in p.one("#plan").text, what="moves submitted")
        results = [r.find_elements("css selector", "td")[4].text for r in p.css("#plan table.moves tbody tr")]
        assert results == ["", "", ""], results  # no error per partition
        # The progress view polls the controller until nothing of it is moving.
        p.wait(lambda: "Reassignment finished: the 3 submitted partition(s)" in p.one("#reassign-status").text,
               timeout=30, what="the reassignment to finish")
        assert p.css("#reassign-status a[href='#/topics/%s']" % topic)
        p.d.execute_script("document.getElementById('plan').scrollIntoView()")
        p.shot("wizard-progress")
    finally:
        d.quit()
    # Kafka's view: three replicas, all in sync, on every partition.
    final = wait_for("3 in-sync replicas everywhere", lambda: (lambda r: r if all(
        rs == [1, 2, 3] and isr == [1, 2, 3] for rs, isr in r.values()) else None)(in_sync_replicas(ctrl, topic)),
        timeout=10)
    assert len(final) == 3
