"""Starting and inspecting a multi-broker keel cluster (a real ZooKeeper), for
the cluster tests: one place for what test_cluster.py's and
test_replication.py's fixtures do by hand, with the settings a test needs."""

import uuid

from conftest import Broker
from test_cluster import metadata, wait_for


def start_cluster(zk, tmp_path, name, ids=(1, 2, 3), extra_config=""):
    """Brokers `ids` in a ZooKeeper chroot of their own, started, returned once
    every one has heard of all of them from the controller. Stop them with
    stop_cluster."""
    chroot = zk.connect + "/" + name + "-" + uuid.uuid4().hex[:8]
    brokers = [Broker(tmp_path / ("b%d" % i), broker_id=i, zookeeper=chroot, extra_config=extra_config)
               for i in ids]
    for b in brokers:
        b.start()
    for b in brokers:
        wait_for("broker %d to see the cluster" % b.broker_id, lambda b=b: set(metadata(b).brokers) == set(ids))
    return brokers


def stop_cluster(brokers):
    """Stops every broker still running (those a test killed are skipped)."""
    for b in brokers:
        if b.alive():
            b.stop()


def by_id(brokers, broker_id):
    return next(b for b in brokers if b.broker_id == broker_id)


def live(brokers):
    return [b for b in brokers if b.alive()]
