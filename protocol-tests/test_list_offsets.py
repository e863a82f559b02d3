"""ListOffsets: earliest / latest / by timestamp / max timestamp, through
confluent-kafka, kafka-python and raw requests."""

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import OffsetSpec

import helpers
from clients import ck_admin, ck_consumer, ck_producer, create_topic

STEP = 1000
N = 10


def produce_with_timestamps(bootstrap, topic, timestamps, one_batch):
    """Produce one record per timestamp to partition 0; each in its own
    batch unless one_batch.  Returns the acked offsets."""
    p = ck_producer(bootstrap, **{"linger.ms": 1000 if one_batch else 0})
    offsets = []

    def cb(err, msg):
        assert err is None, err
        offsets.append(msg.offset())

    for n, ts in enumerate(timestamps):
        p.produce(topic, key=b"k%d" % n, value=b"v%d" % n, partition=0, timestamp=ts, on_delivery=cb)
        if not one_batch:
            assert p.flush(30) == 0
    assert p.flush(30) == 0
    assert offsets == list(range(len(timestamps))), offsets
    return offsets


@pytest.fixture(scope="module")
def ts_topics(broker):
    """Two topics with N records at base + i*STEP: one record per batch, and all in one batch."""
    base = helpers.now_ms() - 3_600_000
    out = {}
    for kind, one_batch in (("separate", False), ("onebatch", True)):
        topic = helpers.unique_topic("lo-" + kind)
        create_topic(broker.bootstrap, topic, 1)
        produce_with_timestamps(broker.bootstrap, topic, [base + n * STEP for n in range(N)], one_batch)
        out[kind] = topic
    return base, out


@pytest.mark.parametrize("kind", ["separate", "onebatch"])
def test_confluent_watermarks_and_offsets_for_times(broker, ts_topics, kind):
    base, topics = ts_topics
    topic = topics[kind]
    c = ck_consumer(broker.bootstrap)
    try:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False)
        assert (lo, hi) == (0, N), "watermarks (%d, %d), expected (0, %d)" % (lo, hi, N)
        cases = [
            (base - 5000, 0),            # before everything -> first record
            (base, 0),                   # exact first
            (base + 3 * STEP, 3),        # exact match
            (base + 3 * STEP + 500, 4),  # between -> next record
            (base + 9 * STEP, 9),        # exact last
            (base + 9 * STEP + 1, -1),   # after everything -> no offset (-1)
        ]
        for ts, want in cases:
            res = c.offsets_for_times([TopicPartition(topic, 0, ts)], timeout=10)
            assert res[0].error is None, res[0].error
            assert res[0].offset == want, "%s: offsets_for_times(base%+d) = %d, expected %d" % (
                kind, ts - base, res[0].offset, want)
    finally:
        c.close()


def test_empty_topic_offsets(broker):
    topic = helpers.unique_topic("lo-empty")
    create_topic(broker.bootstrap, topic, 2)
    c = ck_consumer(broker.bootstrap)
    try:
        for p in range(2):
            assert c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False) == (0, 0)
        res = c.offsets_for_times([TopicPartition(topic, 0, helpers.now_ms() - 1000)], timeout=10)
        assert res[0].error is None and res[0].offset == -1, "empty topic by timestamp: %r" % (res[0],)
    finally:
        c.close()


@pytest.mark.parametrize("kind", ["separate", "onebatch"])
def test_kafka_python_offsets(broker, ts_topics, kind):
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP
    base, topics = ts_topics
    tp = KTP(topics[kind], 0)
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False)
    try:
        assert c.beginning_offsets([tp]) == {tp: 0}
        assert c.end_offsets([tp]) == {tp: N}
        res = c.offsets_for_times({tp: base + 4 * STEP + 1})[tp]
        assert res is not None and (res.offset, res.timestamp) == (5, base + 5 * STEP), \
            "%s: offsets_for_times(base+4001) = %r, expected offset 5 ts base+5000" % (kind, res)
        res = c.offsets_for_times({tp: base})[tp]
        assert res is not None and (res.offset, res.timestamp) == (0, base), res
        assert c.offsets_for_times({tp: base + 60 * STEP})[tp] is None
    finally:
        c.close()


def test_admin_list_offsets_specs(broker):
    """AdminClient.list_offsets with earliest / latest / max_timestamp (ListOffsets v7+, timestamp -3)."""
    base = helpers.now_ms() - 1_800_000
    topic = helpers.unique_topic("lo-maxts")
    create_topic(broker.bootstrap, topic, 1)
    # Out-of-order timestamps, one record per batch: the max is at offset 2.
    stamps = [base + 10, base + 30, base + 90, base + 20, base + 40]
    produce_with_timestamps(broker.bootstrap, topic, stamps, one_batch=False)
    admin = ck_admin(broker.bootstrap)
    tp = TopicPartition(topic, 0)
    results = {}
    for name, spec in (("earliest", OffsetSpec.earliest()), ("latest", OffsetSpec.latest()),
                       ("max_timestamp", OffsetSpec.max_timestamp())):
        results[name] = admin.list_offsets({tp: spec}, request_timeout=10)[tp].result(15)
    assert results["earliest"].offset == 0, results["earliest"]
    assert results["latest"].offset == len(stamps), results["latest"]
    mx = results["max_timestamp"]
    assert (mx.offset, mx.timestamp) == (2, base + 90), \
        "max_timestamp gave offset %d ts base%+d, expected offset 2 ts base+90" % (mx.offset, mx.timestamp - base)
    # By timestamp through the admin API as well.
    r = admin.list_offsets({tp: OffsetSpec.for_timestamp(base + 35)}, request_timeout=10)[tp].result(15)
    assert r.offset == 2, "for_timestamp(base+35) -> %d, expected 2 (first record with ts >= base+35)" % r.offset


def test_raw_list_offsets_v1(broker, ts_topics):
    base, topics = ts_topics
    topic = topics["separate"]
    err, ts, off = helpers.list_offsets_v1(broker.addr, topic, 0, -1)
    assert (err, off) == (0, N), "latest: err %d offset %d" % (err, off)
    err, ts, off = helpers.list_offsets_v1(broker.addr, topic, 0, -2)
    assert (err, off) == (0, 0), "earliest: err %d offset %d" % (err, off)
    err, ts, off = helpers.list_offsets_v1(broker.addr, topic, 0, base + 7 * STEP - 1)
    assert (err, ts, off) == (0, base + 7 * STEP, 7), "by timestamp: err %d ts base%+d offset %d" % (
        err, ts - base, off)
    err, ts, off = helpers.list_offsets_v1(broker.addr, topic, 5, -1)
    assert err == helpers.ERR_UNKNOWN_TOPIC_OR_PARTITION, "partition 5 of a 1-partition topic: err %d" % err
