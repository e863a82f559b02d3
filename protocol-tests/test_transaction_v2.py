"""Transaction version 2 (KIP-890 part 2) requests: EndTxn v5 bumps the
producer epoch at every transaction end and hands it back in the answer;
TxnOffsetCommit v5 adds the group's offsets partition to the transaction
itself. No client here speaks transaction version 2 (librdkafka 2.16 sends
EndTxn v0-v1, and gregor does not finalize `transaction.version` 2, which the
Java client would wait for), so these are raw requests, checked with
confluent-kafka consumers; test_transactions.py keeps transaction version 1."""

import struct
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

import helpers
from clients import create_topic
from helpers import compact_string, i8, i16, i32, i64, string, uvarint

API_PRODUCE = 0
API_INIT_PRODUCER_ID = 22
API_ADD_PARTITIONS_TO_TXN = 24
API_END_TXN = 26
INVALID_PRODUCER_EPOCH = 47
INVALID_TXN_STATE = 48
PRODUCER_FENCED = 90
# RecordBatch attributes bit 4: the batch belongs to a transaction.
TRANSACTIONAL = 0x10


def flex_call(addr, api_key, version, body):
    with helpers.connect(addr) as s:
        r = helpers.roundtrip(s, api_key, version, body, flexible_header=True)
    r.tagged_fields()  # response header v1
    return r


def init_producer_id(addr, tid):
    """InitProducerId v4 -> (error, producer id, epoch)."""
    r = flex_call(addr, API_INIT_PRODUCER_ID, 4,
                  compact_string(tid) + i32(60000) + i64(-1) + i16(-1) + uvarint(0))
    r.i32()
    return r.i16(), r.i64(), r.i16()


def add_partition(addr, tid, pid, epoch, topic):
    """AddPartitionsToTxn v3 for partition 0 -> its error code."""
    body = (compact_string(tid) + i64(pid) + i16(epoch)
            + uvarint(2) + compact_string(topic) + uvarint(2) + i32(0) + uvarint(0) + uvarint(0))
    r = flex_call(addr, API_ADD_PARTITIONS_TO_TXN, 3, body)
    r.i32()

    def part(rr):
        out = (rr.i32(), rr.i16())
        rr.tagged_fields()
        return out

    def topic_result(rr):
        out = (rr.compact_string(), rr.compact_array(part))
        rr.tagged_fields()
        return out

    [(_, [(_, err)])] = r.compact_array(topic_result)
    return err


def end_txn_v5(addr, tid, pid, epoch, commit):
    """EndTxn v5 -> (error, producer id, epoch)."""
    r = flex_call(addr, API_END_TXN, 5, compact_string(tid) + i64(pid) + i16(epoch) + i8(int(commit)) + uvarint(0))
    r.i32()
    out = (r.i16(), r.i64(), r.i16())
    r.tagged_fields()
    assert r.remaining() == 0
    return out


def txn_batch(values, pid, epoch, first_seq):
    """An uncompressed transactional v2 batch of values."""
    recs = b"".join(helpers.encode_record(n, n, None, v) for n, v in enumerate(values))
    ts = helpers.now_ms()
    after_crc = (i16(TRANSACTIONAL) + i32(len(values) - 1) + i64(ts) + i64(ts) + i64(pid) + i16(epoch)
                 + i32(first_seq) + i32(len(values)) + recs)
    return (i64(0) + i32(4 + 1 + 4 + len(after_crc)) + i32(-1) + i8(2)
            + struct.pack(">I", helpers.crc32c(after_crc)) + after_crc)


def produce(addr, tid, topic, batch):
    """Produce v3 with the transactional id, acks=-1 -> partition 0's error code."""
    body = (string(tid) + i16(-1) + i32(30000) + i32(1) + string(topic) + i32(1) + i32(0)
            + i32(len(batch)) + batch)
    with helpers.connect(addr) as s:
        r = helpers.roundtrip(s, API_PRODUCE, 3, body)
    return helpers.decode_produce_v3(r)[(topic, 0)][0]


def values(bootstrap, topic, isolation):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "tv2-" + uuid.uuid4().hex[:6],
                  "isolation.level": isolation, "enable.auto.commit": False, "enable.partition.eof": True})
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    out = []
    try:
        while True:
            m = c.poll(15)
            assert m is not None, "no end of partition after %r" % out
            if m.error():
                break  # end of partition
            out.append(m.value())
    finally:
        c.close()
    return out


def test_end_txn_v5_bumps_the_epoch_at_every_end(broker_factory):
    b = broker_factory(name="tv2")
    with helpers.connect(b.addr) as s:
        assert helpers.api_versions(s, version=3).apis[API_END_TXN] == (0, 5)
    topic = helpers.unique_topic("tv2")
    create_topic(b.bootstrap, topic, 1)
    tid = "tv2-" + uuid.uuid4().hex[:8]
    err, pid, e = init_producer_id(b.addr, tid)
    assert err == 0 and pid >= 0

    # Transaction 1 at epoch e, committed: the answer moves the producer to e+1.
    assert add_partition(b.addr, tid, pid, e, topic) == 0
    assert produce(b.addr, tid, topic, txn_batch([b"a1", b"a2"], pid, e, 0)) == 0
    assert end_txn_v5(b.addr, tid, pid, e, True) == (0, pid, e + 1)
    # A retry (still at e) of the commit that completed answers the same; an abort at e is refused.
    assert end_txn_v5(b.addr, tid, pid, e, True) == (0, pid, e + 1)
    assert end_txn_v5(b.addr, tid, pid, e, False)[0] == INVALID_TXN_STATE
    # A late batch of transaction 1 cannot slip into the next one.
    assert produce(b.addr, tid, topic, txn_batch([b"late"], pid, e, 2)) == INVALID_PRODUCER_EPOCH

    # Transaction 2 at e+1 (sequences restart at 0), aborted: e+2.
    assert add_partition(b.addr, tid, pid, e + 1, topic) == 0
    assert produce(b.addr, tid, topic, txn_batch([b"b1"], pid, e + 1, 0)) == 0
    assert end_txn_v5(b.addr, tid, pid, e + 1, False) == (0, pid, e + 2)
    # An epoch from before the last end (and not its retry) is fenced.
    assert end_txn_v5(b.addr, tid, pid, e, False)[0] == PRODUCER_FENCED
    # An abort with nothing open is still an end: e+3.
    assert end_txn_v5(b.addr, tid, pid, e + 2, False) == (0, pid, e + 3)

    assert values(b.bootstrap, topic, "read_committed") == [b"a1", b"a2"]
    assert values(b.bootstrap, topic, "read_uncommitted") == [b"a1", b"a2", b"b1"]

    # The bumped epochs are in __transaction_state: after a restart the retry
    # still answers the current epoch, and the next transaction continues there.
    b.restart()
    assert end_txn_v5(b.addr, tid, pid, e + 2, False) == (0, pid, e + 3)
    assert add_partition(b.addr, tid, pid, e + 3, topic) == 0
    assert produce(b.addr, tid, topic, txn_batch([b"c1"], pid, e + 3, 0)) == 0
    assert end_txn_v5(b.addr, tid, pid, e + 3, True) == (0, pid, e + 4)
    assert values(b.bootstrap, topic, "read_committed") == [b"a1", b"a2", b"c1"]
    helpers.summary("EndTxn v5: epochs %d -> %d over 4 ends and a restart; read_committed a1 a2 c1" % (e, e + 4))


def test_end_txn_v4_keeps_the_epoch(broker_factory):
    """Transaction version 1 is unchanged: EndTxn v4 answers without moving the epoch."""
    b = broker_factory(name="tv1")
    topic = helpers.unique_topic("tv1")
    create_topic(b.bootstrap, topic, 1)
    tid = "tv1-" + uuid.uuid4().hex[:8]
    err, pid, e = init_producer_id(b.addr, tid)
    assert err == 0
    assert add_partition(b.addr, tid, pid, e, topic) == 0
    assert produce(b.addr, tid, topic, txn_batch([b"x"], pid, e, 0)) == 0
    r = flex_call(b.addr, API_END_TXN, 4, compact_string(tid) + i64(pid) + i16(e) + i8(1) + uvarint(0))
    r.i32()
    assert r.i16() == 0
    # The next transaction runs at the same epoch, its sequences continuing.
    assert add_partition(b.addr, tid, pid, e, topic) == 0
    assert produce(b.addr, tid, topic, txn_batch([b"y"], pid, e, 1)) == 0
    assert end_txn_v5(b.addr, tid, pid, e, True) == (0, pid, e + 1)
    assert values(b.bootstrap, topic, "read_committed") == [b"x", b"y"]


API_TXN_OFFSET_COMMIT = 28


def txn_offset_commit(addr, version, tid, group, pid, epoch, topic, offset):
    """TxnOffsetCommit (flexible, v3+) of partition 0 -> its error code."""
    body = (compact_string(tid) + compact_string(group) + i64(pid) + i16(epoch) + i32(-1) + compact_string("")
            + uvarint(0)  # group instance id: null
            + uvarint(2) + compact_string(topic)
            + uvarint(2) + i32(0) + i64(offset) + i32(-1) + compact_string("") + uvarint(0)
            + uvarint(0) + uvarint(0))
    r = flex_call(addr, API_TXN_OFFSET_COMMIT, version, body)
    r.i32()

    def part(rr):
        out = (rr.i32(), rr.i16())
        rr.tagged_fields()
        return out

    def topic_result(rr):
        out = (rr.compact_string(), rr.compact_array(part))
        rr.tagged_fields()
        return out

    [(_, [(_, err)])] = r.compact_array(topic_result)
    return err


def committed(bootstrap, group, topic):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        return c.committed([TopicPartition(topic, 0)], timeout=10)[0].offset
    finally:
        c.close()


def test_txn_offset_commit_v5_adds_the_offsets_partition_itself(broker_factory):
    b = broker_factory(name="tv2-offsets")
    with helpers.connect(b.addr) as s:
        assert helpers.api_versions(s, version=3).apis[API_TXN_OFFSET_COMMIT] == (0, 5)
    topic = helpers.unique_topic("tv2off")
    create_topic(b.bootstrap, topic, 1)
    tid = "tv2o-" + uuid.uuid4().hex[:8]
    group = "tv2g-" + uuid.uuid4().hex[:8]
    err, pid, e = init_producer_id(b.addr, tid)
    assert err == 0
    # v4 still needs AddOffsetsToTxn first (transaction version 1 unchanged).
    assert txn_offset_commit(b.addr, 4, tid, group, pid, e, topic, 5) == INVALID_TXN_STATE
    # v5 with no AddOffsetsToTxn and nothing else in the transaction: it opens one.
    assert txn_offset_commit(b.addr, 5, tid, group, pid, e, topic, 7) == 0
    assert end_txn_v5(b.addr, tid, pid, e, True) == (0, pid, e + 1)
    assert committed(b.bootstrap, group, topic) == 7
    # Aborted: the offset stays where the committed transaction put it.
    assert txn_offset_commit(b.addr, 5, tid, group, pid, e + 1, topic, 9) == 0
    assert end_txn_v5(b.addr, tid, pid, e + 1, False) == (0, pid, e + 2)
    assert committed(b.bootstrap, group, topic) == 7
    # An epoch the last end moved past is refused.
    assert txn_offset_commit(b.addr, 5, tid, group, pid, e + 1, topic, 11) == INVALID_PRODUCER_EPOCH
    assert committed(b.bootstrap, group, topic) == 7
