"""Admin APIs of issue #5: CreatePartitions, DeleteRecords, DescribeLogDirs,
OffsetForLeaderEpoch, ElectLeaders and DescribeTopicPartitions, through
confluent-kafka's AdminClient, kafka-python's KafkaAdminClient, and raw
requests where no client exposes an API (or a version Kafka 4 still has)."""

import time

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicCollection, TopicPartition
from confluent_kafka.admin import NewPartitions

import helpers
from clients import ck_admin, ck_consumer, ck_producer, consume_confluent, create_topic, topic_partitions
from helpers import compact_string, connect, i8, i32, i64, roundtrip, string, uvarint

API_DELETE_RECORDS = 21
API_OFFSET_FOR_LEADER_EPOCH = 23
API_DESCRIBE_LOG_DIRS = 35
API_CREATE_PARTITIONS = 37
API_ELECT_LEADERS = 43
API_DESCRIBE_TOPIC_PARTITIONS = 75

ERR_OFFSET_OUT_OF_RANGE = 1
ERR_INVALID_PARTITIONS = 37
ERR_INVALID_REPLICA_ASSIGNMENT = 39
ERR_INVALID_REQUEST = 42
ERR_UNKNOWN_LEADER_EPOCH = 75
ERR_ELECTION_NOT_NEEDED = 84


def produce_n(bootstrap, topic, partition, n, prefix=b"v"):
    """Produce n records to one partition; returns their offsets."""
    p = ck_producer(bootstrap)
    offsets = []

    def cb(err, msg):
        assert err is None, err
        offsets.append(msg.offset())

    for i in range(n):
        p.produce(topic, value=prefix + b"-%d" % i, partition=partition, on_delivery=cb)
    assert p.flush(30) == 0
    assert len(offsets) == n
    return sorted(offsets)


def watermarks(bootstrap, topic, partition):
    c = ck_consumer(bootstrap)
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10, cached=False)
    finally:
        c.close()


def first_consumed_offset(bootstrap, topic, partition, expected):
    got = consume_confluent(bootstrap, topic, partition + 1, expected)[partition]
    return [r[0] for r in got]


# ---------------------------------------------------------------------------
# ApiVersions
# ---------------------------------------------------------------------------

def test_new_apis_advertised_with_kafka4_ranges(broker):
    res = helpers.api_versions_addr(broker.addr, 3)
    assert res.error_code == 0
    want = {API_DELETE_RECORDS: (0, 2), API_OFFSET_FOR_LEADER_EPOCH: (2, 4), API_DESCRIBE_LOG_DIRS: (1, 4),
            API_CREATE_PARTITIONS: (0, 3), API_ELECT_LEADERS: (0, 2), API_DESCRIBE_TOPIC_PARTITIONS: (0, 0)}
    for key, rng in want.items():
        assert res.apis.get(key) == rng, "key %d: %r" % (key, res.apis.get(key))


# ---------------------------------------------------------------------------
# CreatePartitions
# ---------------------------------------------------------------------------

def test_confluent_create_partitions_then_produce_consume(broker):
    admin = ck_admin(broker.bootstrap)
    topic = helpers.unique_topic("cp-ck")
    create_topic(broker.bootstrap, topic, 2)
    # A producer that knew the topic with 2 partitions before it grew.
    early = ck_producer(broker.bootstrap, **{"topic.metadata.refresh.interval.ms": 500})
    early.produce(topic, value=b"before", partition=1)
    assert early.flush(30) == 0

    fs = admin.create_partitions([NewPartitions(topic, 4)], validate_only=True, request_timeout=15)
    assert fs[topic].result(15) is None
    time.sleep(0.3)
    assert topic_partitions(broker.bootstrap, topic) == 2, "validate_only must not grow the topic"

    fs = admin.create_partitions([NewPartitions(topic, 4)], request_timeout=15)
    assert fs[topic].result(15) is None
    md = admin.list_topics(topic, timeout=10)
    assert sorted(md.topics[topic].partitions) == [0, 1, 2, 3]
    for p in md.topics[topic].partitions.values():
        assert p.leader >= 0 and p.replicas == [p.leader] and p.isrs == [p.leader]

    # New partitions take produce and fetch at once, from the existing producer too.
    assert produce_n(broker.bootstrap, topic, 3, 5) == [0, 1, 2, 3, 4]
    delivered = []
    deadline = time.time() + 20
    while not delivered and time.time() < deadline:
        try:
            early.produce(topic, value=b"after", partition=2,
                          on_delivery=lambda err, msg: delivered.append((err, msg.offset())))
        except KafkaException:
            time.sleep(0.2)
            continue
        early.flush(20)
    assert delivered and delivered[0][0] is None and delivered[0][1] == 0, delivered
    got = consume_confluent(broker.bootstrap, topic, 4, 7)
    assert [r[2] for r in got[3]] == [b"v-%d" % i for i in range(5)]
    assert [r[2] for r in got[2]] == [b"after"]

    # Shrinking or keeping the count: INVALID_PARTITIONS with Kafka's messages.
    fs = admin.create_partitions([NewPartitions(topic, 3)], request_timeout=15)
    with pytest.raises(KafkaException) as e:
        fs[topic].result(15)
    err = e.value.args[0]
    assert err.code() == KafkaError.INVALID_PARTITIONS
    assert "currently has 4 partition(s); 3 would not be an increase" in err.str()
    fs = admin.create_partitions([NewPartitions(topic, 4)], request_timeout=15)
    with pytest.raises(KafkaException) as e:
        fs[topic].result(15)
    assert e.value.args[0].code() == KafkaError.INVALID_PARTITIONS
    assert "already has 4 partition(s)" in e.value.args[0].str()

    # Assignments naming no registered broker.
    fs = admin.create_partitions([NewPartitions(topic, 5, replica_assignment=[[4242]])], request_timeout=15)
    with pytest.raises(KafkaException) as e:
        fs[topic].result(15)
    assert e.value.args[0].code() == KafkaError.INVALID_REPLICA_ASSIGNMENT
    # The broker's own id is a valid assignment.
    node = md.topics[topic].partitions[0].leader
    fs = admin.create_partitions([NewPartitions(topic, 5, replica_assignment=[[node]])], request_timeout=15)
    assert fs[topic].result(15) is None
    assert topic_partitions(broker.bootstrap, topic) == 5

    missing = helpers.unique_topic("cp-missing")
    fs = admin.create_partitions([NewPartitions(missing, 3)], request_timeout=15)
    with pytest.raises(KafkaException) as e:
        fs[missing].result(15)
    assert e.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART


def create_partitions_raw(addr, topics, validate_only=False, version=0):
    """topics = [(name, count)]; returns [(name, error_code, message)] (v0/v1 encoding)."""
    body = array_of(topics, lambda t: string(t[0]) + i32(t[1]) + i32(-1)) + i32(10000) + i8(1 if validate_only else 0)
    s = connect(addr)
    try:
        r = roundtrip(s, API_CREATE_PARTITIONS, version, body, correlation_id=37)
    finally:
        s.close()
    r.i32()
    return r.array(lambda rr: (rr.string(), rr.i16(), rr.string()))


def array_of(items, enc):
    return i32(len(items)) + b"".join(enc(x) for x in items)


def test_create_partitions_duplicate_topic_is_invalid_request(broker):
    topic = helpers.unique_topic("cp-dup")
    create_topic(broker.bootstrap, topic, 1)
    res = create_partitions_raw(broker.addr, [(topic, 2), (topic, 3)])
    assert [(n, e) for n, e, _ in res] == [(topic, ERR_INVALID_REQUEST)] * 2
    assert topic_partitions(broker.bootstrap, topic) == 1


def test_kafka_python_create_partitions(broker):
    from kafka.admin import KafkaAdminClient, NewPartitions as KpNewPartitions
    from kafka.errors import InvalidPartitionsError
    topic = helpers.unique_topic("cp-kp")
    create_topic(broker.bootstrap, topic, 1)
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        admin.create_partitions({topic: KpNewPartitions(3)})
        assert topic_partitions(broker.bootstrap, topic) == 3
        with pytest.raises(InvalidPartitionsError):
            admin.create_partitions({topic: KpNewPartitions(2)})
        admin.create_partitions({topic: KpNewPartitions(6)}, validate_only=True)
        assert topic_partitions(broker.bootstrap, topic) == 3
    finally:
        admin.close()
    assert produce_n(broker.bootstrap, topic, 2, 3) == [0, 1, 2]


# ---------------------------------------------------------------------------
# DeleteRecords
# ---------------------------------------------------------------------------

def ck_delete_records(bootstrap, topic, partition, offset):
    admin = ck_admin(bootstrap)
    tp = TopicPartition(topic, partition, offset)
    fs = admin.delete_records([tp], request_timeout=15)
    (fut,) = fs.values()
    return fut.result(15)


def test_confluent_delete_records_and_restart(broker_factory):
    b = broker_factory(name="delete-records")
    topic = helpers.unique_topic("dr-ck")
    create_topic(b.bootstrap, topic, 2)
    produce_n(b.bootstrap, topic, 0, 10)
    produce_n(b.bootstrap, topic, 1, 3)

    res = ck_delete_records(b.bootstrap, topic, 0, 4)
    assert res.low_watermark == 4
    assert watermarks(b.bootstrap, topic, 0) == (4, 10)
    assert helpers.list_offsets_v1(b.addr, topic, 0, -2) == (0, -1, 4)
    # A consumer from the beginning starts at the new log start.
    assert first_consumed_offset(b.bootstrap, topic, 0, 6) == list(range(4, 10))
    # Lower than the start: nothing changes, the current start is answered.
    assert ck_delete_records(b.bootstrap, topic, 0, 2).low_watermark == 4
    # Beyond the high watermark: OFFSET_OUT_OF_RANGE.
    with pytest.raises(KafkaException) as e:
        ck_delete_records(b.bootstrap, topic, 0, 11)
    assert e.value.args[0].code() == KafkaError.OFFSET_OUT_OF_RANGE
    # Fetch below the start: OFFSET_OUT_OF_RANGE.
    s = connect(b.addr)
    try:
        assert helpers.fetch_v4(s, topic, 0, 3).error_code == ERR_OFFSET_OUT_OF_RANGE
        assert helpers.fetch_v4(s, topic, 0, 4).error_code == 0
    finally:
        s.close()

    b.stop()
    b.start()
    assert watermarks(b.bootstrap, topic, 0) == (4, 10)
    assert watermarks(b.bootstrap, topic, 1) == (0, 3)
    assert first_consumed_offset(b.bootstrap, topic, 0, 6) == list(range(4, 10))
    # -1 (OFFSET_END) means the high watermark.
    assert ck_delete_records(b.bootstrap, topic, 1, -1).low_watermark == 3
    assert watermarks(b.bootstrap, topic, 1) == (3, 3)
    assert produce_n(b.bootstrap, topic, 1, 2) == [3, 4]


def test_delete_records_survives_kill9(broker_factory):
    b = broker_factory(name="delete-records-kill9")
    topic = helpers.unique_topic("dr-kill")
    create_topic(b.bootstrap, topic, 1)
    produce_n(b.bootstrap, topic, 0, 20)
    assert ck_delete_records(b.bootstrap, topic, 0, 13).low_watermark == 13
    b.kill9()
    b.start()
    assert watermarks(b.bootstrap, topic, 0) == (13, 20)
    assert first_consumed_offset(b.bootstrap, topic, 0, 7) == list(range(13, 20))
    s = connect(b.addr)
    try:
        assert helpers.fetch_v4(s, topic, 0, 12).error_code == ERR_OFFSET_OUT_OF_RANGE
    finally:
        s.close()


def test_kafka_python_delete_records(broker):
    from kafka import TopicPartition as KpTopicPartition
    from kafka.admin import KafkaAdminClient
    from kafka.errors import OffsetOutOfRangeError
    topic = helpers.unique_topic("dr-kp")
    create_topic(broker.bootstrap, topic, 1)
    produce_n(broker.bootstrap, topic, 0, 8)
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        tp = KpTopicPartition(topic, 0)
        res = admin.delete_records({tp: 5})
        assert res[tp]["low_watermark"] == 5 and res[tp]["error_code"] == 0
        with pytest.raises(OffsetOutOfRangeError):
            admin.delete_records({tp: 9})
    finally:
        admin.close()
    assert watermarks(broker.bootstrap, topic, 0) == (5, 8)


# ---------------------------------------------------------------------------
# DescribeTopicPartitions / describe_topics
# ---------------------------------------------------------------------------

def test_confluent_describe_topics_after_growth(broker):
    admin = ck_admin(broker.bootstrap)
    topic = helpers.unique_topic("dt-ck")
    create_topic(broker.bootstrap, topic, 2)
    assert admin.create_partitions([NewPartitions(topic, 5)], request_timeout=15)[topic].result(15) is None
    desc = admin.describe_topics(TopicCollection([topic]), request_timeout=10)[topic].result(15)
    assert desc.name == topic and not desc.is_internal
    assert [p.id for p in desc.partitions] == [0, 1, 2, 3, 4]
    for p in desc.partitions:
        assert p.leader is not None and [n.id for n in p.replicas] == [p.leader.id] == [n.id for n in p.isr]
    missing = helpers.unique_topic("dt-missing")
    with pytest.raises(KafkaException) as e:
        admin.describe_topics(TopicCollection([missing]), request_timeout=10)[missing].result(15)
    assert e.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART


def dtp_request(names, limit, cursor=None):
    body = uvarint(len(names) + 1) + b"".join(compact_string(n) + uvarint(0) for n in names) + i32(limit)
    if cursor is None:
        body += i8(-1)
    else:
        body += i8(1) + compact_string(cursor[0]) + i32(cursor[1]) + uvarint(0)
    return body + uvarint(0)


def describe_topic_partitions_raw(addr, names, limit, cursor=None):
    """Returns (topics, next_cursor); topics = [(error, name, is_internal, [(index, leader, replicas, isr,
    elr, last_known_elr, offline)], authorized_operations)]."""
    s = connect(addr)
    try:
        r = roundtrip(s, API_DESCRIBE_TOPIC_PARTITIONS, 0, dtp_request(names, limit, cursor), correlation_id=75,
                      flexible_header=True)
    finally:
        s.close()
    r.tagged_fields()  # response header v1
    r.i32()

    def ints(rr):
        return rr.compact_array(lambda x: x.i32())

    def part(rr):
        err, idx, leader, _epoch = rr.i16(), rr.i32(), rr.i32(), rr.i32()
        out = (idx, leader, ints(rr), ints(rr), ints(rr), ints(rr), ints(rr))
        rr.tagged_fields()
        assert err == 0
        return out

    def topic(rr):
        err, name = rr.i16(), rr.compact_string()
        rr.raw(16)
        internal = rr.i8()
        parts = rr.compact_array(part)
        ops = rr.i32()
        rr.tagged_fields()
        return (err, name, internal, parts, ops)

    topics = r.compact_array(topic)
    cursor = None
    if r.i8() >= 0:
        cursor = (r.compact_string(), r.i32())
        r.tagged_fields()
    r.tagged_fields()
    assert r.remaining() == 0
    return topics, cursor


def test_describe_topic_partitions_pagination(broker):
    prefix = helpers.unique_topic("dtp")
    a, bb = prefix + "-a", prefix + "-b"
    create_topic(broker.bootstrap, a, 3)
    create_topic(broker.bootstrap, bb, 2)
    missing = prefix + "-zz-missing"

    topics, cursor = describe_topic_partitions_raw(broker.addr, [bb, a, missing], 2)
    assert [(t[0], t[1], [p[0] for p in t[3]]) for t in topics] == [(0, a, [0, 1])]
    assert cursor == (a, 2)
    t = topics[0]
    assert t[2] == 0 and t[4] > 0, "topic_authorized_operations filled in"
    for (_, leader, replicas, isr, elr, lkelr, offline) in t[3]:
        assert replicas == [leader] and isr == [leader] and elr == [] and lkelr == [] and offline == []

    topics, cursor = describe_topic_partitions_raw(broker.addr, [bb, a, missing], 2, cursor)
    assert [(t[1], [p[0] for p in t[3]]) for t in topics] == [(a, [2]), (bb, [0])]
    assert cursor == (bb, 1)
    topics, cursor = describe_topic_partitions_raw(broker.addr, [bb, a, missing], 2, cursor)
    assert [(t[0], t[1], [p[0] for p in t[3] or []]) for t in topics] == [
        (0, bb, [1]), (helpers.ERR_UNKNOWN_TOPIC_OR_PARTITION, missing, [])]
    assert cursor is None

    # The limit ending exactly at a topic's end points the cursor at the next topic.
    topics, cursor = describe_topic_partitions_raw(broker.addr, [a, bb], 3)
    assert [(t[1], len(t[3])) for t in topics] == [(a, 3)] and cursor == (bb, 0)
    # An empty list means every topic, in name order.
    topics, _ = describe_topic_partitions_raw(broker.addr, [], 2000)
    names = [t[1] for t in topics]
    assert names == sorted(names) and a in names and bb in names and missing not in names
    # A cursor outside the requested topics is an invalid request.
    topics, cursor = describe_topic_partitions_raw(broker.addr, [a], 10, (bb, 0))
    assert [(t[0], t[1]) for t in topics] == [(ERR_INVALID_REQUEST, a)] and cursor is None


# ---------------------------------------------------------------------------
# OffsetForLeaderEpoch
# ---------------------------------------------------------------------------

def offset_for_leader_epoch_raw(addr, version, topic, parts, replica_id=-1):
    """parts = [(partition, current_leader_epoch, leader_epoch)] -> {partition: (error, epoch, end_offset)}."""
    flexible = version >= 4
    if flexible:
        body = i32(replica_id) + uvarint(2) + compact_string(topic) + uvarint(len(parts) + 1) + b"".join(
            i32(p) + i32(c) + i32(e) + uvarint(0) for p, c, e in parts) + uvarint(0) + uvarint(0)
    else:
        body = (i32(replica_id) if version >= 3 else b"") + i32(1) + string(topic) + array_of(
            parts, lambda x: i32(x[0]) + i32(x[1]) + i32(x[2]))
    s = connect(addr)
    try:
        r = roundtrip(s, API_OFFSET_FOR_LEADER_EPOCH, version, body, correlation_id=23, flexible_header=flexible)
    finally:
        s.close()
    if flexible:
        r.tagged_fields()
    r.i32()
    out = {}

    def part(rr):
        err, p, epoch, end = rr.i16(), rr.i32(), rr.i32(), rr.i64()
        if flexible:
            rr.tagged_fields()
        out[p] = (err, epoch, end)

    def top(rr):
        (rr.compact_string if flexible else rr.string)()
        (rr.compact_array if flexible else rr.array)(part)
        if flexible:
            rr.tagged_fields()

    (r.compact_array if flexible else r.array)(top)
    if flexible:
        r.tagged_fields()
    assert r.remaining() == 0
    return out


@pytest.mark.parametrize("version", [2, 3, 4])
def test_offset_for_leader_epoch(broker, version):
    topic = helpers.unique_topic("ofle-v%d" % version)
    create_topic(broker.bootstrap, topic, 2)
    produce_n(broker.bootstrap, topic, 0, 7)
    epoch = helpers.metadata_v4(broker.addr, [topic], False).topics[topic].partitions[0]
    assert epoch.error_code == 0
    parts = [(0, -1, 0), (0, 0, 0), (1, 0, 0), (0, 1, 0), (0, -1, 3), (0, -1, -1), (9, -1, 0)]
    for replica_id in ([-1, -2] if version >= 3 else [-1]):
        got = {}
        for p in parts:
            got[p] = offset_for_leader_epoch_raw(broker.addr, version, topic, [p], replica_id)[p[0]]
        # The current epoch (0) ends at the log end offset; the empty partition at 0.
        assert got[(0, -1, 0)] == (0, 0, 7)
        assert got[(0, 0, 0)] == (0, 0, 7)
        assert got[(1, 0, 0)] == (0, 0, 0)
        # current_leader_epoch newer than the broker's: UNKNOWN_LEADER_EPOCH.
        assert got[(0, 1, 0)] == (ERR_UNKNOWN_LEADER_EPOCH, -1, -1)
        # An epoch newer than any known, or undefined: UNDEFINED_EPOCH / UNDEFINED_EPOCH_OFFSET.
        assert got[(0, -1, 3)] == (0, -1, -1)
        assert got[(0, -1, -1)] == (0, -1, -1)
        assert got[(9, -1, 0)] == (helpers.ERR_UNKNOWN_TOPIC_OR_PARTITION, -1, -1)
    # After DeleteRecords the current epoch still ends at the log end.
    assert ck_delete_records(broker.bootstrap, topic, 0, 5).low_watermark == 5
    assert offset_for_leader_epoch_raw(broker.addr, version, topic, [(0, 0, 0)])[0] == (0, 0, 7)


def test_confluent_consumer_validates_positions(broker):
    """librdkafka sends OffsetForLeaderEpoch to validate a position that carries a
    leader epoch (seek with epoch); consumption must carry on from there."""
    topic = helpers.unique_topic("ofle-ck")
    create_topic(broker.bootstrap, topic, 1)
    produce_n(broker.bootstrap, topic, 0, 6)
    c = ck_consumer(broker.bootstrap)
    try:
        c.assign([TopicPartition(topic, 0, 2, leader_epoch=0)])
        got = []
        deadline = time.time() + 20
        while len(got) < 4 and time.time() < deadline:
            for m in c.consume(10, 0.5):
                if m.error() is None:
                    got.append(m.offset())
                elif m.error().code() != KafkaError._PARTITION_EOF:
                    raise KafkaException(m.error())
        assert got == [2, 3, 4, 5]
    finally:
        c.close()


# ---------------------------------------------------------------------------
# DescribeLogDirs
# ---------------------------------------------------------------------------

def describe_log_dirs_raw(addr, version, topics):
    """topics = None or [(name, [partitions])] -> (top error, [(error, dir, {(topic, p): (size, lag, future)},
    total, usable)])."""
    flexible = version >= 2
    if flexible:
        if topics is None:
            body = uvarint(0)
        else:
            body = uvarint(len(topics) + 1) + b"".join(
                compact_string(n) + uvarint(len(ps) + 1) + b"".join(i32(p) for p in ps) + uvarint(0)
                for n, ps in topics)
        body += uvarint(0)
    else:
        body = i32(-1) if topics is None else array_of(topics, lambda t: string(t[0]) + array_of(t[1], i32))
    s = connect(addr)
    try:
        r = roundtrip(s, API_DESCRIBE_LOG_DIRS, version, body, correlation_id=35, flexible_header=flexible)
    finally:
        s.close()
    if flexible:
        r.tagged_fields()
    r.i32()
    top_error = r.i16() if version >= 3 else 0
    st = r.compact_string if flexible else r.string
    results = []
    for _ in range((r.uvarint() - 1) if flexible else r.i32()):
        err = r.i16()
        d = st()
        parts = {}
        for _ in range((r.uvarint() - 1) if flexible else r.i32()):
            name = st()
            for _ in range((r.uvarint() - 1) if flexible else r.i32()):
                idx, size, lag, fut = r.i32(), r.i64(), r.i64(), r.i8()
                if flexible:
                    r.tagged_fields()
                parts[(name, idx)] = (size, lag, fut)
            if flexible:
                r.tagged_fields()
        total = usable = None
        if version >= 4:
            total, usable = r.i64(), r.i64()
        if flexible:
            r.tagged_fields()
        results.append((err, d, parts, total, usable))
    if flexible:
        r.tagged_fields()
    assert r.remaining() == 0
    return top_error, results


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_describe_log_dirs(broker, version):
    topic = helpers.unique_topic("dld-v%d" % version)
    create_topic(broker.bootstrap, topic, 3)
    produce_n(broker.bootstrap, topic, 1, 20, prefix=b"x" * 100)
    err, results = describe_log_dirs_raw(broker.addr, version, [(topic, [0, 1, 7])])
    assert err == 0 and len(results) == 1
    rerr, d, parts, total, usable = results[0]
    assert rerr == 0 and d.startswith("/") and d.rstrip("/").endswith("data")
    assert set(parts) == {(topic, 0), (topic, 1)}, "only what was asked, and only what exists"
    assert parts[(topic, 0)] == (0, 0, 0)
    size, lag, fut = parts[(topic, 1)]
    assert size > 20 * 100 and lag == 0 and fut == 0
    if version >= 4:
        assert total > 0 and 0 <= usable <= total
    # Null topics: every partition of every topic.
    _, results = describe_log_dirs_raw(broker.addr, version, None)
    everything = results[0][2]
    assert {(topic, 0), (topic, 1), (topic, 2)} <= set(everything)
    assert everything[(topic, 1)][0] == size


def test_kafka_python_describe_log_dirs_needs_v0(broker):
    """kafka-python 2.2 only speaks DescribeLogDirs v0, which Kafka 4 (and so gregor)
    no longer offers: the client refuses locally instead of sending it."""
    from kafka.admin import KafkaAdminClient
    from kafka.errors import IncompatibleBrokerVersion
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        with pytest.raises((IncompatibleBrokerVersion, NotImplementedError, TypeError)):
            admin.describe_log_dirs()
    finally:
        admin.close()


# ---------------------------------------------------------------------------
# ElectLeaders
# ---------------------------------------------------------------------------

def test_confluent_elect_leaders(broker):
    from confluent_kafka import ElectionType
    admin = ck_admin(broker.bootstrap)
    topic = helpers.unique_topic("el-ck")
    create_topic(broker.bootstrap, topic, 2)
    for etype in (ElectionType.PREFERRED, ElectionType.UNCLEAN):
        tps = [TopicPartition(topic, 0), TopicPartition(topic, 1), TopicPartition(topic, 9)]
        # confluent-kafka 2.16 fails on any keyword argument here (SystemError).
        res = admin.elect_leaders(etype, tps).result(15)
        by_part = {tp.partition: err for tp, err in res.items()}
        assert set(by_part) == {0, 1, 9}
        for p in (0, 1):
            assert by_part[p] is not None and by_part[p].code() == KafkaError.ELECTION_NOT_NEEDED, by_part[p]
        assert by_part[9].code() == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_kafka_python_perform_leader_election(broker):
    from kafka.admin import KafkaAdminClient
    from kafka.errors import UnknownTopicOrPartitionError
    topic = helpers.unique_topic("el-kp")
    create_topic(broker.bootstrap, topic, 2)
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        resp = admin.perform_leader_election(0, {topic: [0, 1]})
        results = {(t, p[0]): p[1] for t, parts in resp.replication_election_results for p in parts}
        assert results == {(topic, 0): ERR_ELECTION_NOT_NEEDED, (topic, 1): ERR_ELECTION_NOT_NEEDED}
        with pytest.raises(UnknownTopicOrPartitionError):
            admin.perform_leader_election(0, {topic: [5]})
    finally:
        admin.close()


def test_elect_leaders_null_partitions_lists_topics_without_results(broker):
    """v2 with a null partition list: every partition, and (as Kafka) partitions whose
    answer is ELECTION_NOT_NEEDED are left out of the results."""
    topic = helpers.unique_topic("el-all")
    create_topic(broker.bootstrap, topic, 2)
    body = i8(0) + uvarint(0) + i32(10000) + uvarint(0)
    s = connect(broker.addr)
    try:
        r = roundtrip(s, API_ELECT_LEADERS, 2, body, correlation_id=43, flexible_header=True)
    finally:
        s.close()
    r.tagged_fields()
    r.i32()
    assert r.i16() == 0

    def part(rr):
        out = (rr.i32(), rr.i16(), rr.compact_string())
        rr.tagged_fields()
        return out

    def top(rr):
        out = (rr.compact_string(), rr.compact_array(part))
        rr.tagged_fields()
        return out

    topics = dict(r.compact_array(top))
    r.tagged_fields()
    assert topics[topic] == []


# ---------------------------------------------------------------------------
# Flexible versions no client here sends
# ---------------------------------------------------------------------------

def flexible_roundtrip(addr, api_key, version, body, correlation_id):
    s = connect(addr)
    try:
        r = roundtrip(s, api_key, version, body, correlation_id=correlation_id, flexible_header=True)
    finally:
        s.close()
    r.tagged_fields()  # response header v1
    return r


def test_create_partitions_v3_and_delete_records_v2_raw(broker):
    topic = helpers.unique_topic("flex")
    create_topic(broker.bootstrap, topic, 1)
    body = (uvarint(2) + compact_string(topic) + i32(3) + uvarint(0) + uvarint(0)  # assignments null
            + i32(10000) + i8(0) + uvarint(0))
    r = flexible_roundtrip(broker.addr, API_CREATE_PARTITIONS, 3, body, 371)
    r.i32()

    def result(rr):
        out = (rr.compact_string(), rr.i16(), rr.compact_string())
        rr.tagged_fields()
        return out

    assert r.compact_array(result) == [(topic, 0, None)]
    r.tagged_fields()
    assert r.remaining() == 0
    assert topic_partitions(broker.bootstrap, topic) == 3

    produce_n(broker.bootstrap, topic, 2, 4)
    body = (uvarint(2) + compact_string(topic) + uvarint(3) + i32(2) + i64(3) + uvarint(0)
            + i32(7) + i64(0) + uvarint(0) + uvarint(0) + i32(10000) + uvarint(0))
    r = flexible_roundtrip(broker.addr, API_DELETE_RECORDS, 2, body, 211)
    r.i32()

    def part(rr):
        out = (rr.i32(), rr.i64(), rr.i16())
        rr.tagged_fields()
        return out

    def top(rr):
        out = (rr.compact_string(), rr.compact_array(part))
        rr.tagged_fields()
        return out

    assert r.compact_array(top) == [(topic, [(2, 3, 0), (7, -1, helpers.ERR_UNKNOWN_TOPIC_OR_PARTITION)])]
    r.tagged_fields()
    assert r.remaining() == 0
    assert watermarks(broker.bootstrap, topic, 2) == (3, 4)


def delete_records_v0(addr, topic, partition, offset):
    body = i32(1) + string(topic) + i32(1) + i32(partition) + i64(offset) + i32(10000)
    s = connect(addr)
    try:
        r = roundtrip(s, API_DELETE_RECORDS, 0, body, correlation_id=210)
    finally:
        s.close()
    r.i32()
    (t,) = r.array(lambda rr: (rr.string(), rr.array(lambda x: (x.i32(), x.i64(), x.i16()))))
    assert r.remaining() == 0
    return t[1][0][1:]


def test_delete_records_refusals(broker):
    compacted = helpers.unique_topic("dr-compact")
    create_topic(broker.bootstrap, compacted, 1, config={"cleanup.policy": "compact"})
    p = ck_producer(broker.bootstrap)
    p.produce(compacted, key=b"k", value=b"v", partition=0)
    assert p.flush(30) == 0
    # Kafka: records of a compact-only topic can not be deleted (POLICY_VIOLATION).
    assert delete_records_v0(broker.addr, compacted, 0, 1) == (-1, 44)
    # Internal topics: INVALID_TOPIC_EXCEPTION (a group lookup creates __consumer_offsets).
    c = ck_consumer(broker.bootstrap)
    try:
        c.committed([TopicPartition(compacted, 0)], timeout=15)
    finally:
        c.close()
    assert delete_records_v0(broker.addr, "__consumer_offsets", 0, 0) == (-1, 17)
    # Offsets below -1: OFFSET_OUT_OF_RANGE.
    plain = helpers.unique_topic("dr-plain")
    create_topic(broker.bootstrap, plain, 1)
    assert delete_records_v0(broker.addr, plain, 0, -7) == (-1, ERR_OFFSET_OUT_OF_RANGE)
    assert delete_records_v0(broker.addr, plain, 0, 0) == (0, 0)
