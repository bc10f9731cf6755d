"""What a cancelled reassignment must leave (nemesis_reassign.origin_replicas):
Kafka's ReplicaAssignment.originReplicas, the listed replicas of the move
without the adding ones, which is the original set but not always in its
order (seed 9494 on 2026-12-07 failed on the order alone)."""

import nemesis_reassign as nmr


def test_cancel_keeps_the_listed_order():
    listed = {"replicas": [4, 3, 1, 2], "adding": [3], "removing": [2]}
    assert nmr.origin_replicas(listed, [4, 2, 1]) == [4, 1, 2]


def test_cancel_of_a_move_that_kept_the_order():
    listed = {"replicas": [3, 2, 4, 1], "adding": [4], "removing": [1]}
    assert nmr.origin_replicas(listed, [3, 2, 1]) == [3, 2, 1]


def test_without_a_listing_the_original():
    assert nmr.origin_replicas({}, [4, 2, 1]) == [4, 2, 1]
    assert nmr.origin_replicas(None, [4, 2, 1]) == [4, 2, 1]
