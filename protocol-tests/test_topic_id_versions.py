"""The Kafka 4.1 versions of the APIs that name topics by ID: Fetch v18
(advertised; no client here sends it, so raw requests check it) and
OffsetCommit/OffsetFetch v10 (not advertised, exactly as Kafka 4.1 does not:
the schemas mark v10 `latestVersionUnstable`). Real clients offered these
ApiVersions still produce, consume, commit and read their commits."""

import uuid

from confluent_kafka import KafkaError, TopicPartition
from confluent_kafka import TopicCollection

import helpers
from clients import ck_admin, ck_consumer, ck_producer, create_topic
from helpers import compact_string, i8, i16, i32, i64, uvarint

API_FETCH = 1
API_OFFSET_COMMIT = 8
API_OFFSET_FETCH = 9
UNKNOWN_TOPIC_ID = 100
FETCH_SESSION_ID_NOT_FOUND = 70
# FetchPartition tagged field 1 (v18+): the fetching replica's high watermark.
TAG_HIGH_WATERMARK = 1


def topic_id_bytes(bootstrap, topic):
    """The 16 bytes of the topic's ID, as confluent-kafka's DescribeTopics reports it."""
    admin = ck_admin(bootstrap)  # kept alive until the result is in
    desc = admin.describe_topics(TopicCollection([topic]), request_timeout=10)[topic].result(15)
    tid = desc.topic_id
    return (tid.get_most_significant_bits().to_bytes(8, "big", signed=True)
            + tid.get_least_significant_bits().to_bytes(8, "big", signed=True))


def produce(bootstrap, topic, partition, values):
    p = ck_producer(bootstrap, **{"linger.ms": 50})
    acked = []
    for v in values:
        p.produce(topic, value=v, partition=partition,
                  on_delivery=lambda e, m: acked.append(m.offset()) if e is None else None)
    assert p.flush(30) == 0
    assert len(acked) == len(values), acked
    return acked


def encode_fetch_v18(topics, session_id=0, session_epoch=-1, forgotten=(), max_wait_ms=0, min_bytes=1,
                     known_high_watermark=None):
    """topics: [(topic_id, [(partition, fetch_offset)])]; forgotten: [(topic_id, [partitions])]."""
    def partition(p, offset):
        tags = uvarint(0)
        if known_high_watermark is not None:
            tags = uvarint(1) + uvarint(TAG_HIGH_WATERMARK) + uvarint(8) + i64(known_high_watermark)
        # partition, current_leader_epoch, fetch_offset, last_fetched_epoch,
        # log_start_offset, partition_max_bytes, tagged fields
        return i32(p) + i32(-1) + i64(offset) + i32(-1) + i64(-1) + i32(1 << 20) + tags

    body = i32(max_wait_ms) + i32(min_bytes) + i32(50 << 20) + i8(0) + i32(session_id) + i32(session_epoch)
    body += uvarint(len(topics) + 1)
    for tid, parts in topics:
        body += tid + uvarint(len(parts) + 1) + b"".join(partition(p, o) for p, o in parts) + uvarint(0)
    body += uvarint(len(forgotten) + 1)
    for tid, parts in forgotten:
        body += tid + uvarint(len(parts) + 1) + b"".join(i32(p) for p in parts) + uvarint(0)
    body += compact_string("") + uvarint(0)  # rack id, tagged fields
    return body


def decode_fetch_v18(r):
    """-> (error, session_id, {(topic_id, partition): dict})"""
    r.tagged_fields()  # response header v1
    r.i32()  # throttle
    error, session_id = r.i16(), r.i32()
    out = {}
    for _ in range(r.uvarint() - 1):
        tid = r.raw(16)
        for _ in range(r.uvarint() - 1):
            p, err, hw, lso, log_start = r.i32(), r.i16(), r.i64(), r.i64(), r.i64()
            aborted = r.compact_array(lambda rr: (rr.i64(), rr.i64(), rr.tagged_fields())[:2])
            r.i32()  # preferred read replica
            n = r.uvarint()
            records = None if n == 0 else r.raw(n - 1)
            r.tagged_fields()
            out[(tid, p)] = dict(error=err, high_watermark=hw, last_stable_offset=lso, log_start_offset=log_start,
                                 aborted=aborted, records=records)
        r.tagged_fields()
    r.tagged_fields()
    assert r.remaining() == 0, "%d bytes after the fetch response" % r.remaining()
    return error, session_id, out


def fetch_v18(sock, correlation_id=1, **kw):
    topics = kw.pop("topics")
    r = helpers.roundtrip(sock, API_FETCH, 18, encode_fetch_v18(topics, **kw), correlation_id=correlation_id,
                          flexible_header=True)
    return decode_fetch_v18(r)


def values_of(records):
    return [rec.value for b in helpers.parse_batches(records or b"") for rec in helpers.batch_records(b)]


def test_advertised_versions_are_kafka_41s(broker):
    s = helpers.connect(broker.addr)
    try:
        apis = helpers.api_versions(s, version=3).apis
    finally:
        s.close()
    assert apis[API_FETCH] == (4, 18)
    assert apis[API_OFFSET_COMMIT] == (2, 9)
    assert apis[API_OFFSET_FETCH] == (1, 9)


def test_fetch_v18_by_topic_id(broker):
    topic = helpers.unique_topic("fetch18")
    create_topic(broker.bootstrap, topic, 2)
    values = [b"v18-%d" % n for n in range(5)]
    assert produce(broker.bootstrap, topic, 0, values) == list(range(5))
    tid = topic_id_bytes(broker.bootstrap, topic)
    s = helpers.connect(broker.addr)
    try:
        # As a KRaft voter would: tell the leader the high watermark it knows.
        err, _, parts = fetch_v18(s, topics=[(tid, [(0, 0), (1, 0)])], known_high_watermark=2)
        assert err == 0
        p0, p1 = parts[(tid, 0)], parts[(tid, 1)]
        assert (p0["error"], p0["high_watermark"], p0["last_stable_offset"], p0["log_start_offset"]) == (0, 5, 5, 0)
        assert values_of(p0["records"]) == values
        assert (p1["error"], p1["high_watermark"]) == (0, 0)
        assert values_of(p1["records"]) == []
        # From the middle: the batch holding offset 3 may start earlier; offsets 3 and 4 are in it.
        _, _, parts = fetch_v18(s, topics=[(tid, [(0, 3)])], correlation_id=2)
        offsets = [rec.offset for b in helpers.parse_batches(parts[(tid, 0)]["records"])
                   for rec in helpers.batch_records(b)]
        assert offsets[-2:] == [3, 4]
    finally:
        s.close()
    helpers.summary("fetch v18 by topic id: 5 records and high watermark 5 on p0, empty p1")


def test_fetch_v18_unknown_topic_id_beside_a_known_one(broker):
    topic = helpers.unique_topic("fetch18unk")
    create_topic(broker.bootstrap, topic, 1)
    produce(broker.bootstrap, topic, 0, [b"a", b"b"])
    tid = topic_id_bytes(broker.bootstrap, topic)
    stranger = uuid.uuid4().bytes
    s = helpers.connect(broker.addr)
    try:
        err, _, parts = fetch_v18(s, topics=[(stranger, [(0, 0)]), (tid, [(0, 0)])])
    finally:
        s.close()
    assert err == 0
    assert parts[(stranger, 0)]["error"] == UNKNOWN_TOPIC_ID
    assert parts[(tid, 0)]["error"] == 0
    assert values_of(parts[(tid, 0)]["records"]) == [b"a", b"b"]


def test_fetch_v18_incremental_session(broker):
    topic = helpers.unique_topic("fetch18sess")
    create_topic(broker.bootstrap, topic, 2)
    produce(broker.bootstrap, topic, 0, [b"first"])
    tid = topic_id_bytes(broker.bootstrap, topic)
    s = helpers.connect(broker.addr)
    try:
        # Epoch 0 opens a session over both partitions.
        err, session, parts = fetch_v18(s, topics=[(tid, [(0, 0), (1, 0)])], session_epoch=0)
        assert err == 0 and session != 0
        assert values_of(parts[(tid, 0)]["records"]) == [b"first"]
        # Epoch 1 names only p0 (its new offset); p1 stays in the session and its new record shows.
        produce(broker.bootstrap, topic, 1, [b"second"])
        err, again, parts = fetch_v18(s, topics=[(tid, [(0, 1)])], session_id=session, session_epoch=1,
                                      max_wait_ms=5000, correlation_id=2)
        assert (err, again) == (0, session)
        assert values_of(parts[(tid, 1)]["records"]) == [b"second"]
        # Epoch 2 forgets partition 1; a record there no longer shows.
        produce(broker.bootstrap, topic, 1, [b"third"])
        produce(broker.bootstrap, topic, 0, [b"fourth"])
        err, _, parts = fetch_v18(s, topics=[(tid, [(0, 1)])], forgotten=[(tid, [1])], session_id=session,
                                  session_epoch=2, max_wait_ms=5000, correlation_id=3)
        assert err == 0
        assert (tid, 1) not in parts
        assert values_of(parts[(tid, 0)]["records"]) == [b"fourth"]
        # A session id the broker has not given out yet (ids are handed out in order).
        unknown = session + 1 if session < 2 ** 31 - 1 else 1
        err, _, _ = fetch_v18(s, topics=[], session_id=unknown, session_epoch=1, correlation_id=4)
        assert err == FETCH_SESSION_ID_NOT_FOUND
    finally:
        s.close()


def test_offset_commit_and_fetch_v10_close_the_connection(broker):
    """v10 is not offered (as on Kafka 4.1), so a v10 request closes the connection."""
    topic = helpers.unique_topic("oc10")
    create_topic(broker.bootstrap, topic, 1)
    tid = topic_id_bytes(broker.bootstrap, topic)
    # OffsetCommit v10: group, generation, member, instance id (null), topics [{id, partitions}], tags.
    commit = (compact_string("g10") + i32(-1) + compact_string("") + uvarint(0)
              + uvarint(2) + tid + uvarint(2) + i32(0) + i64(1) + i32(-1) + compact_string("") + uvarint(0)
              + uvarint(0) + uvarint(0))
    # OffsetFetch v10: groups [{id, member (null), epoch, topics [{id, partitions}]}], require_stable, tags.
    fetch = (uvarint(2) + compact_string("g10") + uvarint(0) + i32(-1)
             + uvarint(2) + tid + uvarint(2) + i32(0) + uvarint(0) + uvarint(0) + i8(0) + uvarint(0))
    for api_key, body in ((API_OFFSET_COMMIT, commit), (API_OFFSET_FETCH, fetch)):
        s = helpers.connect(broker.addr)
        try:
            s.sendall(helpers.frame(helpers.request_header(api_key, 10, 5, flexible=True) + body))
            assert helpers.wait_closed(s, 10)[0] == "closed", "api %d v10 was answered" % api_key
        finally:
            s.close()
    # The broker is unharmed: v9 of both still works on a fresh connection.
    c = ck_consumer(broker.bootstrap, **{"group.id": "g10"})
    try:
        c.commit(offsets=[TopicPartition(topic, 0, 1)], asynchronous=False)
        assert [tp.offset for tp in c.committed([TopicPartition(topic, 0)], timeout=10)] == [1]
    finally:
        c.close()


def test_clients_commit_and_resume_when_offered_these_versions(group_broker):
    """confluent-kafka and kafka-python pick their own highest versions from
    this ApiVersions answer, consume, commit, and a restarted member resumes
    at the commit."""
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP

    b = group_broker
    topic = helpers.unique_topic("tidclients")
    create_topic(b.bootstrap, topic, 1)
    produce(b.bootstrap, topic, 0, [b"r%d" % n for n in range(10)])
    group = "tid-" + uuid.uuid4().hex[:8]

    def ck_read(n):
        c = ck_consumer(b.bootstrap, **{"group.id": group})
        got = []
        try:
            c.subscribe([topic])
            while len(got) < n:
                msg = c.poll(15)
                assert msg is not None, "confluent consumer: %d of %d records" % (len(got), n)
                if msg.error() and msg.error().code() == KafkaError._PARTITION_EOF:
                    continue
                assert msg.error() is None, msg.error()
                got.append(msg.value())
            c.commit(asynchronous=False)
            committed = c.committed([TopicPartition(topic, 0)], timeout=10)[0].offset
        finally:
            c.close()
        return got, committed

    got, committed = ck_read(6)
    assert got == [b"r%d" % n for n in range(6)] and committed == 6

    kc = KafkaConsumer(topic, bootstrap_servers=b.bootstrap, group_id=group, enable_auto_commit=False,
                       auto_offset_reset="earliest")
    try:
        rest = []
        for _ in range(60):
            for recs in kc.poll(timeout_ms=500).values():
                rest.extend(r.value for r in recs)
            if len(rest) >= 4:
                break
        assert rest == [b"r%d" % n for n in range(6, 10)]
        kc.commit()
        assert kc.committed(KTP(topic, 0)) == 10
    finally:
        kc.close()

    produce(b.bootstrap, topic, 0, [b"r10"])
    got, committed = ck_read(1)
    assert got == [b"r10"] and committed == 11
    helpers.summary("confluent-kafka 6 + kafka-python 4 + confluent-kafka 1 records, commits 6/10/11")

