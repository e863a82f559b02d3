"""Requests gregor must refuse with an error code rather than a dead connection
(issue 15, items 6 and 7): ids too long for the internal topics' record schemas,
offset commits for partitions that do not exist, a clean shutdown that keeps the
idempotent producer state, and the log lines that say why a request was refused.

Raw protocol where no client lets us send the request (40,000-byte ids, an API
gregor does not implement); confluent-kafka where a client does."""

import glob
import os
import socket

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

import helpers
from clients import create_topic
from helpers import compact_string, i16, i32, i64, summary, uvarint

API_PRODUCE = 0
API_OFFSET_COMMIT = 8
API_JOIN_GROUP = 11
API_SYNC_GROUP = 14
API_INIT_PRODUCER_ID = 22
API_ADD_OFFSETS_TO_TXN = 25
API_TXN_OFFSET_COMMIT = 28
API_ALTER_PARTITION = 56

NONE = 0
UNKNOWN_SERVER_ERROR = -1
UNKNOWN_TOPIC_OR_PARTITION = 3
INVALID_SESSION_TIMEOUT = 26
INVALID_GROUP_ID = 24
MEMBER_ID_REQUIRED = 79

# Kafka's record schemas hold strings of at most 32767 bytes; the request
# (flexible versions, varint lengths) can carry more.
HUGE = "g" * 40000

GROUP_OVERRIDES = {"group.initial.rebalance.delay.ms": "0"}


def call(addr, api_key, version, body):
    """One flexible request on its own connection; returns a Reader after the
    response header's tagged fields."""
    with helpers.connect(addr) as s:
        r = helpers.roundtrip(s, api_key, version, body, flexible_header=True)
    r.tagged_fields()
    return r


def commit_partitions(parts):
    """{topic: [(partition, offset)]} as the flexible topics array of OffsetCommit
    v8 and TxnOffsetCommit v3 (same partition layout)."""
    out = uvarint(len(parts) + 1)
    for topic, ps in parts.items():
        out += compact_string(topic) + uvarint(len(ps) + 1)
        for p, off in ps:
            out += i32(p) + i64(off) + i32(-1) + compact_string("") + uvarint(0)
        out += uvarint(0)
    return out


def read_commit_codes(r):
    """Topics array of OffsetCommit/TxnOffsetCommit responses -> {(topic, p): code}."""
    codes = {}
    for _ in range(r.uvarint() - 1):
        name = r.compact_string()
        for _ in range(r.uvarint() - 1):
            p = r.i32()
            codes[(name, p)] = r.i16()
            r.tagged_fields()
        r.tagged_fields()
    return codes


def offset_commit_v8(addr, group, parts):
    body = (compact_string(group) + i32(-1) + compact_string("") + compact_string(None)
            + commit_partitions(parts) + uvarint(0))
    r = call(addr, API_OFFSET_COMMIT, 8, body)
    r.i32()  # throttle
    return read_commit_codes(r)


def join_group_v6(addr, group, member_id="", session_timeout_ms=10000):
    body = (compact_string(group) + i32(session_timeout_ms) + i32(10000) + compact_string(member_id)
            + compact_string(None) + compact_string("consumer")
            + uvarint(2) + compact_string("range") + uvarint(1) + uvarint(0)  # one protocol, empty metadata
            + uvarint(0))
    r = call(addr, API_JOIN_GROUP, 6, body)
    r.i32()
    error = r.i16()
    generation = r.i32()
    r.compact_string()  # protocol name
    r.compact_string()  # leader
    member = r.compact_string()
    return error, generation, member


def sync_group_v4(addr, group, generation, member_id):
    body = (compact_string(group) + i32(generation) + compact_string(member_id) + compact_string(None)
            + uvarint(2) + compact_string(member_id) + uvarint(1) + uvarint(0)  # empty assignment
            + uvarint(0))
    r = call(addr, API_SYNC_GROUP, 4, body)
    r.i32()
    return r.i16()


def init_producer_id_v4(addr, transactional_id):
    body = compact_string(transactional_id) + i32(60000) + i64(-1) + i16(-1) + uvarint(0)
    r = call(addr, API_INIT_PRODUCER_ID, 4, body)
    r.i32()
    return r.i16(), r.i64(), r.i16()


def add_offsets_to_txn_v3(addr, txn_id, pid, epoch, group):
    body = compact_string(txn_id) + i64(pid) + i16(epoch) + compact_string(group) + uvarint(0)
    r = call(addr, API_ADD_OFFSETS_TO_TXN, 3, body)
    r.i32()
    return r.i16()


def txn_offset_commit_v3(addr, txn_id, group, pid, epoch, parts):
    body = (compact_string(txn_id) + compact_string(group) + i64(pid) + i16(epoch) + i32(-1)
            + compact_string("") + compact_string(None) + commit_partitions(parts) + uvarint(0))
    r = call(addr, API_TXN_OFFSET_COMMIT, 3, body)
    r.i32()
    return read_commit_codes(r)


def assert_serves_clients(b, topic):
    """A real client still produces, consumes and commits through this broker."""
    p = Producer({"bootstrap.servers": b.bootstrap})
    p.produce(topic, b"still-here")
    assert p.flush(30) == 0
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": helpers.unique_topic("after"),
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        c.subscribe([topic])
        got = None
        for _ in range(60):
            m = c.poll(1.0)
            if m is not None and m.error() is None:
                got = m
                break
        assert got is not None and got.value() == b"still-here"
        committed = c.commit(message=got, asynchronous=False)
        assert committed[0].error is None, committed
    finally:
        c.close()


def test_oversized_ids_are_refused_with_codes(broker_factory):
    """Every API that writes a client-supplied id into __consumer_offsets or
    __transaction_state answers UNKNOWN_SERVER_ERROR for one over 32767 bytes
    (Kafka 4.1's answer when the record cannot be serialized) on a live
    connection, and the broker keeps serving."""
    b = broker_factory(overrides=GROUP_OVERRIDES, name="huge-ids")
    topic = helpers.unique_topic("huge")
    create_topic(b.bootstrap, topic, 1)

    commit = offset_commit_v8(b.addr, HUGE, {topic: [(0, 5)]})
    assert commit == {(topic, 0): UNKNOWN_SERVER_ERROR}, commit

    first = join_group_v6(b.addr, HUGE)
    assert first[0] == MEMBER_ID_REQUIRED, first
    joined = join_group_v6(b.addr, HUGE, member_id=first[2])
    assert joined[0] == NONE and joined[1] >= 1, joined
    sync = sync_group_v4(b.addr, HUGE, joined[1], first[2])
    assert sync == UNKNOWN_SERVER_ERROR, sync

    huge_txn = init_producer_id_v4(b.addr, "t" * 40000)
    assert huge_txn[0] == UNKNOWN_SERVER_ERROR, huge_txn

    txn_id = helpers.unique_topic("txn")
    err, pid, epoch = init_producer_id_v4(b.addr, txn_id)
    assert err == NONE, err
    # The transaction's own record names the offsets partition, not the group.
    assert add_offsets_to_txn_v3(b.addr, txn_id, pid, epoch, HUGE) == NONE
    txn_commit = txn_offset_commit_v3(b.addr, txn_id, HUGE, pid, epoch, {topic: [(0, 5)]})
    assert txn_commit == {(topic, 0): UNKNOWN_SERVER_ERROR}, txn_commit

    assert_serves_clients(b, topic)
    log = b.log_text()
    assert "panicked" not in log, b.log_tail()
    summary("huge ids: OffsetCommit v8 %r, SyncGroup v4 %d, InitProducerId v4 %d, TxnOffsetCommit v3 %r; "
            "broker still serves confluent-kafka" % (commit, sync, huge_txn[0], txn_commit))


def test_commits_to_unknown_partitions(broker_factory):
    """OffsetCommit and TxnOffsetCommit answer UNKNOWN_TOPIC_OR_PARTITION for a
    topic or partition the metadata has not, per partition, and still commit
    the partitions that exist in the same request (Kafka 4.1's KafkaApis)."""
    b = broker_factory(overrides=GROUP_OVERRIDES, name="unknown-commits")
    topic = helpers.unique_topic("known")
    create_topic(b.bootstrap, topic, 2)
    group = helpers.unique_topic("g")
    parts = {topic: [(0, 7), (5, 7)], "no-such-topic": [(0, 7)]}

    raw = offset_commit_v8(b.addr, group, parts)
    assert raw == {(topic, 0): NONE, (topic, 5): UNKNOWN_TOPIC_OR_PARTITION,
                   ("no-such-topic", 0): UNKNOWN_TOPIC_OR_PARTITION}, raw

    txn_id = helpers.unique_topic("txn")
    err, pid, epoch = init_producer_id_v4(b.addr, txn_id)
    assert err == NONE
    assert add_offsets_to_txn_v3(b.addr, txn_id, pid, epoch, group) == NONE
    txn = txn_offset_commit_v3(b.addr, txn_id, group, pid, epoch, parts)
    assert txn == {(topic, 0): NONE, (topic, 5): UNKNOWN_TOPIC_OR_PARTITION,
                   ("no-such-topic", 0): UNKNOWN_TOPIC_OR_PARTITION}, txn
    # Only unknown partitions: refused without an empty write.
    only_unknown = txn_offset_commit_v3(b.addr, txn_id, group, pid, epoch, {"no-such-topic": [(3, 1)]})
    assert only_unknown == {("no-such-topic", 3): UNKNOWN_TOPIC_OR_PARTITION}, only_unknown

    # confluent-kafka: a synchronous commit reports the error on the partition
    # that does not exist and commits the one that does.
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": helpers.unique_topic("ck"),
                  "enable.auto.commit": False})
    try:
        try:
            result = c.commit(offsets=[TopicPartition(topic, 1, 11), TopicPartition(topic, 9, 11)],
                              asynchronous=False)
            errors = {(tp.topic, tp.partition): tp.error for tp in result}
        except KafkaException as e:
            errors = {"exception": e.args[0]}
        committed = c.committed([TopicPartition(topic, 1)], timeout=10)
    finally:
        c.close()
    summary("unknown partitions: OffsetCommit v8 %r; TxnOffsetCommit v3 %r; confluent commit %r; "
            "committed %r" % (raw, txn, errors, [(t.partition, t.offset) for t in committed]))
    assert committed[0].offset == 11, committed
    text = repr(errors)
    assert "UNKNOWN_TOPIC_OR_PART" in text or "Unknown topic or partition" in text, errors


def test_clean_shutdown_writes_producer_snapshot(broker_factory):
    """SIGTERM snapshots each partition's producer state; after the restart a
    retried batch (same producer, same sequence) is still recognised."""
    b = broker_factory(name="snapshot-at-stop")
    topic = helpers.unique_topic("snap")
    create_topic(b.bootstrap, topic, 1)
    err, pid, epoch = init_producer_id_v4(b.addr, None)
    assert err == NONE

    def batch(seq, n):
        recs = [(None, b"r%d" % (seq + k), ()) for k in range(n)]
        return helpers.build_batch(recs, helpers.now_ms(), producer_id=pid, producer_epoch=epoch,
                                   base_sequence=seq)

    def produce(data):
        with helpers.connect(b.addr) as s:
            r = helpers.roundtrip(s, API_PRODUCE, 3, helpers.encode_produce_v3(topic, 0, data, acks=1))
        return helpers.decode_produce_v3(r)[(topic, 0)]

    first = produce(batch(0, 3))
    second = produce(batch(3, 2))
    assert first[:2] == (0, 0) and second[:2] == (0, 3), (first, second)
    part_dir = os.path.join(b.data_dir, "%s-0" % topic)
    before = glob.glob(os.path.join(part_dir, "*.snapshot"))
    assert before == [], "a snapshot before shutdown: %r" % before
    b.stop()
    after = sorted(os.path.basename(p) for p in glob.glob(os.path.join(part_dir, "*.snapshot")))
    b.start()
    retry = produce(batch(3, 2))
    gap = produce(batch(9, 1))
    summary("snapshot at SIGTERM: %r; retry of seq 3 after restart -> %r; seq 9 -> %r" % (after, retry, gap))
    assert after == ["%020d.snapshot" % 5], after
    assert retry[:2] == (0, 3), "duplicate answered with its original offset: %r" % (retry,)
    assert gap[0] == 45, "OUT_OF_ORDER_SEQUENCE_NUMBER after restart: %r" % (gap,)
    assert "duplicate batch from an idempotent producer" in b.log_text()


def test_refusal_reasons_are_logged(broker_factory, monkeypatch):
    """At GREGOR_LOG=debug a refused JoinGroup says which timeout and the range;
    an API gregor does not implement closes the connection with one info line
    naming it and the client id."""
    monkeypatch.setenv("GREGOR_LOG", "debug,openraft=warn")
    b = broker_factory(overrides={"group.min.session.timeout.ms": "6000",
                                  "group.max.session.timeout.ms": "300000"}, name="reasons")
    group = helpers.unique_topic("reasons")
    refused = join_group_v6(b.addr, group, session_timeout_ms=1000)
    assert refused[0] == INVALID_SESSION_TIMEOUT, refused
    no_id = offset_commit_v8(b.addr, "", {"__consumer_offsets": [(0, 1)]})
    assert no_id == {("__consumer_offsets", 0): INVALID_GROUP_ID}, no_id

    with helpers.connect(b.addr) as s:
        body = i32(30000) + uvarint(1) + i8_bool(False) + uvarint(0)
        s.sendall(helpers.frame(helpers.request_header(API_ALTER_PARTITION, 3, 9, client_id="feature-probe",
                                                       flexible=True) + body))
        outcome, _ = helpers.wait_closed(s, 10)
    assert outcome == "closed", outcome
    # The broker is still there for others.
    assert helpers.api_versions_addr(b.addr).error_code == 0

    # A produce refusal mapped in src/error.rs says why too: a sequence gap.
    topic = helpers.unique_topic("reasons")
    create_topic(b.bootstrap, topic, 1)
    err, pid, epoch = init_producer_id_v4(b.addr, None)
    assert err == NONE
    codes = []
    for seq in (0, 7):
        data = helpers.build_batch([(None, b"x", ())], helpers.now_ms(), producer_id=pid,
                                   producer_epoch=epoch, base_sequence=seq)
        with helpers.connect(b.addr) as s:
            r = helpers.roundtrip(s, API_PRODUCE, 3, helpers.encode_produce_v3(topic, 0, data, acks=1))
        codes.append(helpers.decode_produce_v3(r)[(topic, 0)][0])
    assert codes == [NONE, 45], codes

    lines = b.log_text().splitlines()
    join = [ln for ln in lines if "refused" in ln and "INVALID_SESSION_TIMEOUT" in ln.upper().replace(" ", "_")
            or ("refused" in ln and "InvalidSessionTimeout" in ln)]
    unsupported = [ln for ln in lines if "AlterPartition" in ln]
    summary("refusal log lines:\n  %s\n  %s" % ("\n  ".join(join), "\n  ".join(unsupported)))
    assert len(join) == 1, b.log_tail()
    assert "JoinGroup" in join[0] and "session_timeout_ms 1000" in join[0] and "6000..300000" in join[0], join
    empty = [ln for ln in lines if "refused" in ln and "InvalidGroupId" in ln]
    assert len(empty) == 1 and "api=OffsetCommit" in empty[0] and "group id is empty" in empty[0], empty
    gap = [ln for ln in lines if "refused" in ln and "OutOfOrderSequenceNumber" in ln]
    summary("  %s" % "\n  ".join(empty + gap))
    assert len(gap) == 1 and "api=Produce" in gap[0] and "reason=" in gap[0], gap
    assert len(unsupported) == 1, unsupported
    assert " INFO " in unsupported[0] and "key 56" in unsupported[0] and "feature-probe" in unsupported[0], \
        unsupported


def i8_bool(v):
    return bytes([1 if v else 0])
