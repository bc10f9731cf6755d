"""Network namespaces for the chaos harness: one router, one leg per host.

    zk ─┐
    b1 ─┤
    ..  ├── router (ip_forward=1, policy rules = network faults)
    bN ─┤
    cli ┤   (the workload's producers and consumers)
    ctl ┘   (the harness's own probes: metadata, port checks; never cut)

Every namespace name starts with a random per-run tag ("kc" + 6 hex digits),
so parallel runs and leftovers of a crashed run never collide. Each leg is a
veth pair created directly inside the router and the host namespace (nothing
is ever added to the machine's own namespace), with its own /24 out of a
10.X.0.0/16 chosen at random among those not routed on this machine.
Deleting the namespaces deletes the veths; teardown() runs from a finally
block, from atexit and from a SIGTERM/SIGINT handler.

A cut is a policy rule in the router, `from A to B blackhole`: a packet from A
to B is dropped in transit, so a new connect times out and an established
connection stops receiving (fault-testing.md §2, verified on this machine).
One rule cuts one direction; cut() adds both unless told otherwise.
"""

import atexit
import ipaddress
import os
import random
import re
import signal
import subprocess
import sys
import time

RULE_PRIORITY = 100  # below "lookup local" (0) would be wrong: keep local delivery


def sh(*args, check=True, capture=False, timeout=30):
    r = subprocess.run(list(args), check=False, timeout=timeout,
                       stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(args), r.returncode, r.stderr.strip()))
    return r


def routed_networks():
    """Every IPv4 network routed or addressed in this (the machine's) namespace."""
    nets = []
    for cmd in (["ip", "-4", "route", "show", "table", "all"], ["ip", "-4", "addr"]):
        out = sh(*cmd, capture=True, check=False).stdout
        for m in re.finditer(r"(?<![\d.])(\d+\.\d+\.\d+\.\d+)(/\d+)?", out):
            try:
                nets.append(ipaddress.ip_network(m.group(1) + (m.group(2) or "/32"), strict=False))
            except ValueError:
                pass
    return nets


def pick_subnet(rng=random):
    """A 10.X.0.0/16 overlapping nothing routed here (default routes aside)."""
    taken = [n for n in routed_networks() if n.prefixlen > 0]
    for _ in range(200):
        cand = ipaddress.ip_network("10.%d.0.0/16" % rng.randint(16, 250))
        if not any(cand.overlaps(n) for n in taken):
            return cand
    raise RuntimeError("no free 10.x/16 found")


_live = []  # topologies not yet torn down, for atexit and signal handlers


def _teardown_all():
    for topo in list(_live):
        topo.teardown()


atexit.register(_teardown_all)


def _on_signal(signum, frame):
    _teardown_all()
    # Re-raise as the usual exception so finally blocks of callers still run.
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    sys.exit(128 + signum)


def install_signal_handlers():
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        try:
            signal.signal(s, _on_signal)
        except ValueError:  # not the main thread (pytest-xdist etc.)
            pass


class Topology:
    def __init__(self, hosts, tag=None, subnet=None):
        self.tag = tag or "kc%06x" % random.getrandbits(24)
        self.hosts = list(hosts)
        self.router = self.tag + "-rt"
        self.subnet = subnet or pick_subnet()
        base = int(self.subnet.network_address)
        # Leg i: 10.X.(i+1).0/24, router .1, host .2.
        self.addr = {}
        self.gw = {}
        for i, h in enumerate(self.hosts):
            self.addr[h] = str(ipaddress.ip_address(base + (i + 1) * 256 + 2))
            self.gw[h] = str(ipaddress.ip_address(base + (i + 1) * 256 + 1))
        self.rules = set()  # (src_host, dst_host)
        self.created = []
        self.up = False

    def ns(self, host):
        return "%s-%s" % (self.tag, host)

    def namespaces(self):
        return [self.router] + [self.ns(h) for h in self.hosts]

    def setup(self):
        _live.append(self)
        try:
            for name in self.namespaces():
                sh("ip", "netns", "add", name)
                self.created.append(name)
                sh("ip", "-n", name, "link", "set", "lo", "up")
            sh("ip", "netns", "exec", self.router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
            for i, h in enumerate(self.hosts):
                leg = "l%d" % i
                sh("ip", "-n", self.router, "link", "add", leg, "type", "veth",
                   "peer", "name", "eth0", "netns", self.ns(h))
                sh("ip", "-n", self.router, "addr", "add", self.gw[h] + "/24", "dev", leg)
                sh("ip", "-n", self.router, "link", "set", leg, "up")
                sh("ip", "-n", self.ns(h), "addr", "add", self.addr[h] + "/24", "dev", "eth0")
                sh("ip", "-n", self.ns(h), "link", "set", "eth0", "up")
                sh("ip", "-n", self.ns(h), "route", "add", "default", "via", self.gw[h])
            self.up = True
            return self
        except BaseException:
            self.teardown()
            raise

    def teardown(self):
        for name in reversed(self.created):
            sh("ip", "netns", "del", name, check=False)
        self.created = []
        self.up = False
        if self in _live:
            _live.remove(self)

    def __enter__(self):
        return self.setup()

    def __exit__(self, *exc):
        self.teardown()

    # --- faults -----------------------------------------------------------
    def _rule(self, op, src, dst):
        sh("ip", "-n", self.router, "rule", op, "priority", str(RULE_PRIORITY),
           "from", self.addr[src], "to", self.addr[dst], "blackhole", check=(op == "add"))

    def cut(self, a, b, both=True):
        """Drop packets a -> b (and b -> a when both)."""
        pairs = [(a, b), (b, a)] if both else [(a, b)]
        for s, d in pairs:
            if (s, d) not in self.rules:
                self._rule("add", s, d)
                self.rules.add((s, d))

    def isolate(self, host, others):
        for o in others:
            if o != host:
                self.cut(host, o)

    def heal(self, a=None, b=None):
        """Delete one cut (both directions) or, with no arguments, every cut."""
        targets = list(self.rules) if a is None else [(a, b), (b, a)]
        for s, d in targets:
            if (s, d) in self.rules:
                self._rule("del", s, d)
                self.rules.discard((s, d))

    def rules_text(self):
        return sh("ip", "-n", self.router, "rule", "show", capture=True).stdout

    # --- processes --------------------------------------------------------
    def cmd(self, host, argv):
        """argv run inside host's namespace. `ip netns exec` execs in place,
        so the PID Popen reports is the program's own."""
        return ["ip", "netns", "exec", self.ns(host)] + list(argv)

    def run(self, host, argv, timeout=60, **kw):
        return subprocess.run(self.cmd(host, argv), timeout=timeout, **kw)


def leftovers():
    """Namespaces left by runs that died before tearing down (tag kcXXXXXX-)."""
    out = sh("ip", "netns", "list", capture=True, check=False).stdout
    return [l.split()[0] for l in out.splitlines() if re.match(r"kc[0-9a-f]{6}-", l)]


def tcp_check(topo, src, dst, port, timeout=2.0):
    """Can src connect to dst:port? (run in src's namespace)."""
    code = ("import socket,sys\n"
            "try:\n socket.create_connection((%r,%d),timeout=%r).close(); print('ok')\n"
            "except OSError as e: print(type(e).__name__)\n") % (topo.addr[dst], port, timeout)
    r = topo.run(src, [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout + 10)
    return r.stdout.strip()


def self_test():
    """Build a 3-host topology, check reachability, a one-way and a two-way
    cut, healing and cleanup. Prints what it saw; raises on a mismatch."""
    topo = Topology(["a", "b", "c"])
    with topo:
        srv = subprocess.Popen(topo.cmd("b", [sys.executable, "-c",
            "import socket,time\ns=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
            "s.bind(('0.0.0.0',7000));s.listen(64)\n"
            "while True:\n c,_=s.accept();c.close()\n"]))
        try:
            time.sleep(0.5)
            seen = {"base": tcp_check(topo, "a", "b", 7000)}
            topo.cut("a", "b", both=False)
            seen["a->b cut"] = tcp_check(topo, "a", "b", 7000, timeout=1.5)
            seen["c->b during a->b cut"] = tcp_check(topo, "c", "b", 7000)
            topo.heal()
            seen["healed"] = tcp_check(topo, "a", "b", 7000)
            topo.cut("b", "a", both=False)  # only the replies are dropped
            seen["b->a cut"] = tcp_check(topo, "a", "b", 7000, timeout=1.5)
            topo.heal()
            print(seen)
            expect = {"base": "ok", "a->b cut": "TimeoutError", "c->b during a->b cut": "ok",
                      "healed": "ok", "b->a cut": "TimeoutError"}
            if seen != expect:
                raise RuntimeError("topology self-test: %s != %s" % (seen, expect))
        finally:
            srv.kill()
            srv.wait()
    names = [n for n in leftovers() if n.startswith(topo.tag)]
    if names:
        raise RuntimeError("namespaces left: %s" % names)
    print("topology self-test ok (subnet %s, tag %s)" % (topo.subnet, topo.tag))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "cleanup-leftovers":
        # Only namespaces of the harness's own tag pattern, and only on request.
        for n in leftovers():
            sh("ip", "netns", "del", n, check=False)
            print("deleted", n)
    else:
        self_test()
