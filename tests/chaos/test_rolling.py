"""The rolling restart's parts that need no cluster: the full-ISR view every
broker must agree on before the next broker is stopped, and the order and
stop signal of nemesis.RollingRestart against stand-in brokers."""

import os
import random
import subprocess

import pytest

import nemesis as nm


def _view(brokers=("1", "2", "3"), topics=None, controller=1):
    topics = topics if topics is not None else {
        "chaos": {"error": None, "partitions": {
            "0": {"leader": 1, "replicas": [1, 2, 3], "isr": [3, 1, 2], "error": None},
            "1": {"leader": 2, "replicas": [2, 3, 1], "isr": [2, 3, 1], "error": None}}},
        "__transaction_state": {"error": None, "partitions": {
            "0": {"leader": 3, "replicas": [3, 1, 2], "isr": [3, 1, 2], "error": None}}}}
    return {"controller": controller, "brokers": list(brokers), "topics": topics}


def _views(*mds):
    return {"10.0.%d.2:9092" % i: md for i, md in enumerate(mds)}


def test_full_view_when_every_broker_agrees():
    v = nm.full_isr_view(_views(_view(), _view(), _view()), [1, 2, 3])
    assert v is not None
    assert v[("chaos", "0")] == (1, (1, 2, 3))
    assert v[("__transaction_state", "0")] == (3, (1, 2, 3))


def test_an_internal_topic_short_of_its_isr_is_not_full():
    md = _view()
    md["topics"]["__transaction_state"]["partitions"]["0"]["isr"] = [3, 1]
    assert nm.full_isr_view(_views(md, md, md), [1, 2, 3]) is None


def test_a_partition_without_a_leader_is_not_full():
    md = _view()
    md["topics"]["chaos"]["partitions"]["1"]["leader"] = -1
    assert nm.full_isr_view(_views(md, md, md), [1, 2, 3]) is None


def test_a_broker_missing_from_the_metadata_is_not_full():
    # The restarted broker's port answers before the controller has told
    # the others it is live.
    md = _view(brokers=("1", "3"))
    assert nm.full_isr_view(_views(md, md, md), [1, 2, 3]) is None


def test_brokers_must_agree():
    stale = _view()
    stale["topics"]["chaos"]["partitions"]["0"]["leader"] = 2
    assert nm.full_isr_view(_views(_view(), stale, _view()), [1, 2, 3]) is None
    assert nm.full_isr_view(_views(_view(), {"error": "timeout"}), [1, 2, 3]) is None
    assert nm.full_isr_view({}, [1, 2, 3]) is None


def test_a_replica_being_added_may_be_missing_from_the_isr_but_no_other():
    # A move of chaos-0 onto broker 4 under way: RS = [1, 2, 3, 4], 4 catching up.
    md = _view(brokers=("1", "2", "3", "4"))
    md["topics"]["chaos"]["partitions"]["0"]["replicas"] = [1, 2, 3, 4]
    views = _views(md, md, md, md)
    assert nm.full_isr_view(views, [1, 2, 3, 4]) is None
    adding = {("chaos", "0"): {4}}
    assert nm.full_isr_view(views, [1, 2, 3, 4], adding)[("chaos", "0")] == (1, (1, 2, 3, 4))
    md["topics"]["chaos"]["partitions"]["0"]["isr"] = [1, 2, 4]  # 3 fell out: not full
    assert nm.full_isr_view(_views(md, md, md, md), [1, 2, 3, 4], adding) is None
    md["topics"]["chaos"]["partitions"]["0"]["isr"] = [1, 2, 3]
    assert nm.full_isr_view(_views(md, md, md, md), [1, 2, 3, 4], {("chaos", "1"): {4}}) is None, \
        "allowed for another partition only"


class _Broker:
    def __init__(self, bid, calls):
        self.bid, self.calls, self.proc = bid, calls, object()

    def terminate(self, timeout):
        self.calls.append(("sigterm", self.bid))
        return 0

    def kill9(self):
        self.calls.append(("kill9", self.bid))

    def start(self, timeout):
        self.calls.append(("start", self.bid))


class _Nemesis:
    """Answers wait_all_isrs_full from a list (None = never full)."""

    def __init__(self, controller, settles):
        self.calls, self.events, self.violations = [], [], []
        self.cluster = type("C", (), {})()
        self.cluster.brokers = {i: _Broker(i, self.calls) for i in (1, 2, 3)}
        self.controller, self.settles = controller, list(settles)

    def metadata(self):
        return {"controller": self.controller}

    def broker(self, bid):
        return self.cluster.brokers[bid]

    def wait_all_isrs_full(self, timeout, catching_up=None):
        self.calls.append(("wait",))
        return self.settles.pop(0)

    def log(self, **ev):
        self.events.append(ev)


def test_rolling_sigterm_restarts_each_broker_the_controller_last():
    nem = _Nemesis(controller=2, settles=[0.5, 1.0, 2.0, 3.0])
    f = nm.RollingRestart("sigterm", down_s=0)
    f.inject(nem)
    assert nem.calls == [("wait",),
                         ("sigterm", 1), ("start", 1), ("wait",),
                         ("sigterm", 3), ("start", 3), ("wait",),
                         ("sigterm", 2), ("start", 2), ("wait",)]
    assert [s["broker"] for s in f.steps] == [1, 3, 2]
    assert [s["full_isr_s"] for s in f.steps] == [1.0, 2.0, 3.0]
    assert f.steps[-1]["was_controller"] and nem.violations == []


def test_rounds_repeat_the_order():
    nem = _Nemesis(controller=1, settles=[0.5] * 7)
    f = nm.RollingRestart("sigterm", rounds=2, down_s=0)
    f.inject(nem)
    assert [(s["round"], s["broker"]) for s in f.steps] == [(0, 2), (0, 3), (0, 1), (1, 2), (1, 3), (1, 1)]


def test_rolling_kill9_control_uses_kill9():
    nem = _Nemesis(controller=1, settles=[0.5] * 4)
    nm.RollingRestart("kill9", down_s=0).inject(nem)
    assert [c for c in nem.calls if c[0] != "wait"] == [
        ("kill9", 2), ("start", 2), ("kill9", 3), ("start", 3), ("kill9", 1), ("start", 1)]


def test_a_broker_after_which_the_isrs_stay_short_stops_the_restart():
    nem = _Nemesis(controller=3, settles=[0.5, 1.0, None])
    f = nm.RollingRestart("sigterm", rounds=2, down_s=0)
    f.inject(nem)
    assert nem.violations == ["rolling_restart_stuck"]
    # Broker 3 (the controller) was never stopped.
    assert ("sigterm", 3) not in nem.calls and [s["broker"] for s in f.steps] == [1, 2]


def test_the_random_mix_has_a_rolling_restart_with_several_brokers_only():
    rng = random.Random(7)
    drawn = {type(nm.random_fault(rng, 3)).__name__ for _ in range(400)}
    assert "RollingRestart" in drawn
    single = {type(nm.random_fault(rng, 1)).__name__ for _ in range(400)}
    assert "RollingRestart" not in single and "Kill9" in single


def test_a_full_disk_joins_the_random_mix_only_when_the_data_dirs_are_on_tmpfs():
    rng = random.Random(11)
    assert "DiskFull" not in {type(nm.random_fault(rng, 3)).__name__ for _ in range(400)}
    assert "DiskFull" in {type(nm.random_fault(rng, 3, disk_full=True)).__name__ for _ in range(400)}


def test_fill_takes_every_free_byte_of_a_small_file_system(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        (mnt / "data").write_bytes(b"x" * 100000)
        taken = nm.fill(mnt / "filler")
        assert taken > 2 << 20
        st = os.statvfs(mnt)
        assert st.f_bavail * st.f_frsize < 4096, "space left after the fill"
        try:
            (mnt / "more").write_bytes(b"y" * 8192)
            raise AssertionError("a write fitted on the full file system")
        except OSError as e:
            assert e.errno == 28
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
