#!/usr/bin/python3
"""REST API and console benchmark (issue 24): one keel broker holding 1,000
topics and 100 consumer groups.

  rest      latency (p50, p99, max) of GET /v3/.../topics (all 1,000),
            GET /v3/.../topics/{t} (a random topic each call) and
            GET /v3/.../consumer-groups (all 100), each call on one kept-alive
            HTTP connection, one call at a time
  console   the console's first page load in headless Chromium (Debian's
            chromium + chromium-driver, driven by Selenium): from the start of
            the navigation to /console/#/topics until the topics table is drawn
            with every topic (the page's own performance.now()); a cold load in a
            fresh browser (empty cache), then warm reloads

    benchmarks/rest_bench.py [--keel build/src/keel] [--topics 1000] [--groups 100]
        [--partitions 1] [--calls 200] [--loads 10]

Prints one JSON object per measurement and a summary with the machine's load
average; nothing here is a test. The broker comes from tests/integration's
harness (conftest.Broker) with its settings, logging at info."""

import argparse
import http.client
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

from txn_bench import load_average, log, percentile  # noqa: E402

TARGET_FIRST_LOAD_MS = 1000


class Http:
    """One kept-alive connection; get() -> (status, body bytes, seconds)."""

    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def get(self, path):
        start = time.perf_counter()
        self.conn.request("GET", path)
        r = self.conn.getresponse()
        body = r.read()
        return r.status, body, time.perf_counter() - start


def wait(what, check, timeout=300):
    from test_cluster import wait_for
    return wait_for(what, check, timeout=timeout)


def populate(broker, http, cid, args):
    from confluent_kafka import Consumer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    names = ["bench-%04d" % i for i in range(args.topics)]
    start = time.time()
    for at in range(0, len(names), 100):
        chunk = [NewTopic(n, num_partitions=args.partitions, replication_factor=1) for n in names[at:at + 100]]
        for f in admin.create_topics(chunk, request_timeout=120).values():
            f.result(120)

    def listed():
        status, body, _ = http.get("/v3/clusters/%s/topics" % cid)
        return status == 200 and sum(t["topic_name"].startswith("bench-") for t in json.loads(body)["data"]) \
            == args.topics
    wait("%d topics listed" % args.topics, listed)
    log(step="topics", count=args.topics, partitions=args.partitions, seconds=round(time.time() - start, 1))

    # Groups with committed offsets and no members (as after consumers stopped): ListGroups lists them.
    start = time.time()
    for i in range(args.groups):
        c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "bench-group-%03d" % i,
                      "enable.auto.commit": False})
        c.commit(offsets=[TopicPartition(names[i % len(names)], 0, 0)], asynchronous=False)
        c.close()

    def groups_listed():
        status, body, _ = http.get("/v3/clusters/%s/consumer-groups" % cid)
        return status == 200 and sum(g["consumer_group_id"].startswith("bench-group-")
                                     for g in json.loads(body)["data"]) == args.groups
    wait("%d groups listed" % args.groups, groups_listed)
    log(step="groups", count=args.groups, seconds=round(time.time() - start, 1))
    return names


def bench_rest(http, cid, names, args):
    base = "/v3/clusters/%s" % cid
    cases = [("list topics", lambda: base + "/topics"),
             ("describe topic", lambda: base + "/topics/" + random.choice(names)),
             ("list consumer groups", lambda: base + "/consumer-groups")]
    results = {}
    for name, path in cases:
        for _ in range(5):  # warm-up
            http.get(path())
        times, size = [], 0
        for _ in range(args.calls):
            status, body, took = http.get(path())
            if status != 200:
                raise RuntimeError("%s answered %d: %s" % (name, status, body[:300]))
            times.append(took * 1000)
            size = len(body)
        row = dict(case=name, calls=args.calls, body_bytes=size, p50_ms=round(percentile(times, 50), 2),
                   p99_ms=round(percentile(times, 99), 2), max_ms=round(max(times), 2),
                   load_average=load_average())
        log(**row)
        results[name] = row
    return results


# Set before the console's own scripts run: the session is "anonymous" (no
# sign-in page), and the moment the topics table holds every topic is noted
# in the page's own clock (ms since the navigation started).
def console_probe(topics):
    return """
sessionStorage.setItem('keel.console.auth', JSON.stringify({mode: 'anonymous'}));
(function poll() {
  const main = document.getElementById('main');
  if (main && main.dataset.route === '/topics' &&
      document.querySelectorAll('#main table tbody tr').length >= %d) {
    window.__keelTopicsDrawn = performance.now();
    return;
  }
  setTimeout(poll, 2);
})();
""" % topics


def bench_console(port, args):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    profile = tempfile.mkdtemp(prefix="keel-bench-chromium-")
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1280,900", "--no-first-run", "--disable-extensions",
              "--disable-background-networking", "--user-data-dir=" + profile):
        opts.add_argument(a)
    d = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    d.set_page_load_timeout(60)
    try:
        d.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": console_probe(args.topics)})
        url = "http://127.0.0.1:%d/console/#/topics" % port
        loads = []
        for i in range(args.loads + 1):
            if i == 0:
                d.get(url)
            else:
                d.execute_script("window.__keelTopicsDrawn = undefined;")
                d.refresh()
            deadline = time.time() + 60
            drawn = None
            while drawn is None:
                drawn = d.execute_script("return window.__keelTopicsDrawn;")
                if time.time() > deadline:
                    raise RuntimeError("the topics table was never drawn: " +
                                       d.find_element("css selector", "body").text[:500])
                time.sleep(0.01)
            timing = d.execute_script(
                "const n = performance.getEntriesByType('navigation')[0];"
                "return {dom: n.domContentLoadedEventEnd, load: n.loadEventEnd};")
            rows = d.execute_script("return document.querySelectorAll('#main table tbody tr').length;")
            row = dict(case="console first page" if i == 0 else "console reload", load=i,
                       topics_table_drawn_ms=round(drawn, 1), dom_content_loaded_ms=round(timing["dom"], 1),
                       rows=rows, load_average=load_average())
            log(**row)
            loads.append(row)
        return loads
    finally:
        d.quit()
        shutil.rmtree(profile, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keel", default=str(REPO / "build" / "src" / "keel"))
    ap.add_argument("--topics", type=int, default=1000)
    ap.add_argument("--groups", type=int, default=100)
    ap.add_argument("--partitions", type=int, default=1)
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--loads", type=int, default=10)
    args = ap.parse_args()
    os.environ["KEEL_BIN"] = str(Path(args.keel).resolve())
    from conftest import Broker, free_port
    work = tempfile.mkdtemp(prefix="keel-rest-bench-")
    port = free_port()
    b = Broker(Path(work) / "broker", extra_config="http.listeners: http://127.0.0.1:%d\n" % port)
    b.config_path.write_text(b.config_path.read_text().replace("level: debug", "level: info"))
    b.start()
    try:
        http = Http(port)
        wait("the REST API", lambda: http.get("/v3/clusters")[0] == 200, timeout=30)
        cid = json.loads(http.get("/v3/clusters")[1])["data"][0]["cluster_id"]
        log(step="start", nproc=os.cpu_count(), load_average=load_average())
        names = populate(b, http, cid, args)
        rest = bench_rest(http, cid, names, args)
        console = bench_console(port, args)
        warm = [r["topics_table_drawn_ms"] for r in console[1:]]
        summary = dict(summary=True, topics=args.topics, groups=args.groups,
                       rest={k: {"p50_ms": v["p50_ms"], "p99_ms": v["p99_ms"]} for k, v in rest.items()},
                       console_first_load_ms=console[0]["topics_table_drawn_ms"],
                       console_reload_median_ms=round(statistics.median(warm), 1) if warm else None,
                       console_reload_max_ms=max(warm) if warm else None,
                       first_load_target_ms=TARGET_FIRST_LOAD_MS,
                       first_load_met=console[0]["topics_table_drawn_ms"] < TARGET_FIRST_LOAD_MS,
                       load_average=load_average())
        log(**summary)
    finally:
        b.stop(timeout=60)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
