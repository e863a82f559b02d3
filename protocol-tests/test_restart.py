"""Durability: kill -9 mid-stream and graceful SIGTERM, then restart on the
same data dir; every acknowledged record, topic and topic id must be back."""

import threading
import time

from confluent_kafka import TopicCollection, TopicPartition

import helpers
from clients import ck_admin, ck_consumer, ck_producer, consume_confluent, create_topic

PARTITIONS = 3


def describe(bootstrap, topic):
    """(topic_id string, partition count) via DescribeTopics."""
    admin = ck_admin(bootstrap)  # keep a reference until the future resolves
    desc = admin.describe_topics(TopicCollection([topic]), request_timeout=10)[topic].result(15)
    return str(desc.topic_id), len(desc.partitions)


def end_offsets(bootstrap, topic, partitions):
    c = ck_consumer(bootstrap)
    try:
        return [c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[1]
                for p in range(partitions)]
    finally:
        c.close()


def produce_one(bootstrap, topic, partition, value):
    p = ck_producer(bootstrap)
    out = []
    p.produce(topic, value=value, partition=partition, on_delivery=lambda err, msg: out.append((err, msg.offset())))
    assert p.flush(30) == 0
    assert out and out[0][0] is None, out
    return out[0][1]


def value_of(i):
    return b"restart-%08d-" % i + b"x" * (i % 200)


def test_kill9_mid_stream_keeps_acked_records(broker_factory):
    b = broker_factory(name="kill9")
    topic = helpers.unique_topic("kill9")
    other = helpers.unique_topic("kill9-other")
    create_topic(b.bootstrap, topic, PARTITIONS)
    create_topic(b.bootstrap, other, 1)
    ids_before = {t: describe(b.bootstrap, t) for t in (topic, other)}
    for t, (tid, _) in ids_before.items():
        assert tid and tid != "AAAAAAAAAAAAAAAAAAAAAA" and set(tid) != {"0", "-"}, "%s has null topic id %r" % (t, tid)
    assert ids_before[topic][0] != ids_before[other][0], "two topics share a topic id"

    acked = {}  # (partition, offset) -> i
    failed = []

    def cb(i, err, msg):
        if err is None:
            acked[(msg.partition(), msg.offset())] = i
        else:
            failed.append(i)

    p = ck_producer(b.bootstrap, **{"linger.ms": 2, "batch.num.messages": 500, "message.timeout.ms": 20000,
                                    "retries": 0})
    killed = threading.Event()

    def killer():
        deadline = time.time() + 30
        while len(acked) < 20000 and time.time() < deadline:
            time.sleep(0.01)
        b.kill9()
        killed.set()

    th = threading.Thread(target=killer, daemon=True)
    th.start()
    sent = 0
    sent_after_kill = 0
    t_end = None
    while True:
        if killed.is_set():
            if t_end is None:
                t_end = time.time() + 0.3
            if time.time() > t_end:
                break
            sent_after_kill += 1
        try:
            p.produce(topic, value=value_of(sent), partition=sent % PARTITIONS,
                      on_delivery=lambda err, msg, i=sent: cb(i, err, msg))
            sent += 1
        except BufferError:
            p.poll(0.01)
            continue
        if sent % 200 == 0:
            p.poll(0)
            time.sleep(0.001)  # keep the stream going, not a giant backlog
    th.join()
    p.purge(in_queue=True, in_flight=True)
    p.flush(30)
    assert len(p) == 0
    n_acked = len(acked)
    assert n_acked > 1000, "only %d messages acknowledged before the kill" % n_acked
    assert sent > n_acked, "kill did not happen mid-stream (all %d acked)" % sent

    b.start()
    ids_after = {t: describe(b.bootstrap, t) for t in (topic, other)}
    assert ids_after == ids_before, "topic ids/partitions changed across kill -9: %r -> %r" % (ids_before, ids_after)

    ends = end_offsets(b.bootstrap, topic, PARTITIONS)
    consumed = consume_confluent(b.bootstrap, topic, PARTITIONS, sum(ends))
    missing = []
    for (part, off), i in acked.items():
        recs = consumed[part]
        if off >= len(recs) or recs[off][0] != off or recs[off][2] != value_of(i):
            missing.append((part, off, i))
    assert not missing, "%d acknowledged records missing/wrong after kill -9, e.g. %r" % (len(missing), missing[:5])
    # Each partition's log is a prefix of what was sent to it, in order.
    for part in range(PARTITIONS):
        seq = [r[2] for r in consumed[part]]
        want = [value_of(i) for i in range(part, part + PARTITIONS * len(seq), PARTITIONS)]
        assert seq == want, "partition %d after recovery is not an in-order prefix of the sent stream" % part
    helpers.summary("kill9: sent=%d acked=%d recovered=%d (per partition %r) failed_or_purged=%d"
                    % (sent, n_acked, sum(ends), ends, len(failed)))

    # New writes continue right after the recovered end.
    for part in range(PARTITIONS):
        off = produce_one(b.bootstrap, topic, part, b"after-restart")
        assert off == ends[part], "p%d: new record got offset %d, recovered end was %d" % (part, off, ends[part])
    b.stop()


def test_sigterm_graceful_and_data_back(broker_factory):
    b = broker_factory(name="sigterm")
    topic = helpers.unique_topic("graceful")
    create_topic(b.bootstrap, topic, PARTITIONS, config={"retention.ms": "86400000"})
    tid = describe(b.bootstrap, topic)
    msgs = helpers.make_messages(10000, PARTITIONS, tag="graceful")
    from clients import produce_confluent
    delivered = produce_confluent(b.bootstrap, topic, msgs, "zstd")
    b.stop()  # asserts exit code 0
    b.start()
    assert describe(b.bootstrap, topic) == tid
    consumed = consume_confluent(b.bootstrap, topic, PARTITIONS, len(msgs))
    helpers.verify_consumed(msgs, delivered, consumed, "after SIGTERM restart")
    ends = end_offsets(b.bootstrap, topic, PARTITIONS)
    off = produce_one(b.bootstrap, topic, 1, b"after")
    assert off == ends[1]
    # A second graceful cycle with no traffic in between.
    b.restart()
    assert end_offsets(b.bootstrap, topic, PARTITIONS) == [e + (1 if n == 1 else 0) for n, e in enumerate(ends)]
    b.stop()


def test_deleted_topic_stays_deleted_after_restart(broker_factory):
    b = broker_factory(name="delete-restart")
    keep = helpers.unique_topic("keep")
    gone = helpers.unique_topic("gone")
    create_topic(b.bootstrap, keep, 1)
    create_topic(b.bootstrap, gone, 1)
    produce_one(b.bootstrap, gone, 0, b"x")
    admin = ck_admin(b.bootstrap)
    admin.delete_topics([gone], operation_timeout=20)[gone].result(30)
    b.kill9()
    b.start()
    topics = ck_admin(b.bootstrap).list_topics(timeout=10).topics
    assert keep in topics and gone not in topics, sorted(t for t in topics if not t.startswith("__"))
