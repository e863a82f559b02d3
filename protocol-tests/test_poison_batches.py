"""Poison batches: a correct CRC over records that lie.  Each crafted batch is
sent with a raw Produce v3 request; the broker must refuse it with the code
Kafka gives (INVALID_RECORD, CORRUPT_MESSAGE or INVALID_TIMESTAMP), the log end
must not move, and a normal client must still produce and consume on the same
partition afterwards.  Record timestamps are checked against
message.timestamp.after.max.ms (Kafka 4 default: one hour)."""

import gzip
import struct

import pytest

import helpers
from clients import consume_confluent, create_topic, produce_confluent

ERR_CORRUPT_MESSAGE = 2
ERR_INVALID_TIMESTAMP = 32
ERR_INVALID_RECORD = 87

CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
HOUR_MS = 3600 * 1000
I32_MAX = 2 ** 31 - 1
I64_MAX = 2 ** 63 - 1


def compress(codec, data):
    if codec == "none":
        return data
    if codec == "gzip":
        return gzip.compress(data)
    if codec == "snappy":
        import snappy
        return snappy.compress(data)  # raw snappy, as librdkafka writes it
    if codec == "lz4":
        import lz4.frame
        return lz4.frame.compress(data)
    if codec == "zstd":
        import zstandard
        return zstandard.ZstdCompressor().compress(data)
    raise ValueError(codec)


def assemble(section, count, last_delta, base_ts, max_ts, codec="none", attributes=0):
    """A v2 batch around a records section used verbatim, with a correct CRC
    whatever the header fields claim."""
    after_crc = (helpers.i16(CODEC_IDS[codec] | attributes) + helpers.i32(last_delta) + helpers.i64(base_ts)
                 + helpers.i64(max_ts) + helpers.i64(-1) + helpers.i16(-1) + helpers.i32(-1)
                 + helpers.i32(count) + section)
    crc = helpers.crc32c(after_crc)
    return (helpers.i64(0) + helpers.i32(4 + 1 + 4 + len(after_crc)) + helpers.i32(-1) + helpers.i8(2)
            + struct.pack(">I", crc) + after_crc)


def records(n, deltas=None):
    """The uncompressed section of n keyed records, timestamp delta = index."""
    deltas = list(range(n)) if deltas is None else deltas
    return b"".join(helpers.encode_record(d, i, b"k%d" % i, b"value-%d" % i) for i, d in enumerate(deltas))


def honest(n, base_ts, codec="none"):
    return assemble(compress(codec, records(n)), n, n - 1, base_ts, base_ts + n - 1, codec)


def junk(n):
    return bytes((i * 89 + 17) % 253 for i in range(n))


def poison_cases(now):
    """name -> (batch, expected error code)."""
    ts = now - 60_000
    rec1 = helpers.encode_record(1, 1, b"k1", b"value-1")
    first, third = helpers.encode_record(0, 0, b"k0", b"value-0"), helpers.encode_record(2, 2, b"k2", b"value-2")
    neg_key = helpers.varint(6) + b"\x00" + helpers.varint(1) + helpers.varint(1) + helpers.varint(-2) + b"\x00\x00"
    lz4_whole = compress("lz4", records(3))
    crc_damaged = bytearray(honest(3, ts))
    crc_damaged[-1] ^= 0x01
    cases = {
        "garbage-body": (assemble(junk(90), 3, 2, ts, ts + 2), ERR_INVALID_RECORD),
        "count-i32-max": (assemble(records(3), I32_MAX, I32_MAX - 1, ts, ts + 2), ERR_INVALID_RECORD),
        "zero-offset-deltas": (assemble(records(3, [0, 0, 0]), 3, 2, ts, ts + 2), ERR_INVALID_RECORD),
        "offset-delta-gaps": (assemble(records(3, [0, 2, 3]), 3, 2, ts, ts + 2), ERR_INVALID_RECORD),
        "varint-too-long": (assemble(first + b"\xff" * 11 + third, 3, 2, ts, ts + 2), ERR_INVALID_RECORD),
        "negative-key-length": (assemble(first + neg_key + third, 3, 2, ts, ts + 2), ERR_INVALID_RECORD),
        "record-size-lies": (assemble(first + bytes([rec1[0] + 4]) + rec1[1:] + third, 3, 2, ts, ts + 2),
                             ERR_INVALID_RECORD),
        "trailing-bytes": (assemble(records(3) + b"\x00\x00", 3, 2, ts, ts + 2), ERR_INVALID_RECORD),
        "more-records-than-claimed": (assemble(records(3), 2, 1, ts, ts + 1), ERR_INVALID_RECORD),
        "lz4-without-end-mark": (assemble(lz4_whole[:-4], 3, 2, ts, ts + 2, "lz4"), ERR_INVALID_RECORD),
        "crc-damage": (bytes(crc_damaged), ERR_CORRUPT_MESSAGE),
        "timestamp-i64-max": (assemble(helpers.encode_record(0, 0, b"k", b"v"), 1, 0, I64_MAX, I64_MAX),
                              ERR_INVALID_TIMESTAMP),
    }
    for codec in ("gzip", "snappy", "lz4", "zstd"):
        cases["%s-does-not-decompress" % codec] = (assemble(junk(120), 3, 2, ts, ts + 2, codec), ERR_INVALID_RECORD)
        cases["%s-fewer-records-than-claimed" % codec] = (
            assemble(compress(codec, records(2)), 3, 2, ts, ts + 2, codec), ERR_INVALID_RECORD)
    return cases


CASE_NAMES = sorted(poison_cases(0))


def produce_raw(addr, topic, batch):
    s = helpers.connect(addr)
    try:
        r = helpers.roundtrip(s, helpers.API_PRODUCE, 3, helpers.encode_produce_v3(topic, 0, batch, acks=1),
                              correlation_id=77)
        return helpers.decode_produce_v3(r)[(topic, 0)]
    finally:
        s.close()


def log_end(addr, topic):
    err, _, off = helpers.list_offsets_v1(addr, topic, 0, -1)
    assert err == 0, "ListOffsets latest error %d" % err
    return off


@pytest.fixture(scope="module")
def poisoned(broker):
    """One topic that every poison case is sent to; clients use it afterwards."""
    topic = helpers.unique_topic("poison")
    create_topic(broker.bootstrap, topic, 1)
    return topic


@pytest.mark.parametrize("case", CASE_NAMES)
def test_poison_batch_is_refused(broker, poisoned, case):
    batch, expected = poison_cases(helpers.now_ms())[case]
    before = log_end(broker.addr, poisoned)
    err, base, _ = produce_raw(broker.addr, poisoned, batch)
    assert err == expected, "%s: error code %d, expected %d" % (case, err, expected)
    assert base == -1, "%s: refused batch got base offset %d" % (case, base)
    after = log_end(broker.addr, poisoned)
    assert after == before, "%s: log end moved from %d to %d" % (case, before, after)
    assert broker.alive()


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_honest_raw_batches_of_every_codec_are_accepted(broker, codec):
    topic = helpers.unique_topic("honest-" + codec)
    create_topic(broker.bootstrap, topic, 1)
    err, base, _ = produce_raw(broker.addr, topic, honest(5, helpers.now_ms() - 1000, codec))
    assert (err, base) == (0, 0), "%s: error %d base %d" % (codec, err, base)
    assert log_end(broker.addr, topic) == 5


def test_a_wrong_max_timestamp_is_rewritten_as_kafka_does(broker):
    """Kafka's LogValidator does not refuse a CreateTime batch whose header
    max_timestamp is not its largest record timestamp: it stores the right one."""
    topic = helpers.unique_topic("max-ts")
    create_topic(broker.bootstrap, topic, 1)
    ts = helpers.now_ms() - 60_000
    err, base, _ = produce_raw(broker.addr, topic, assemble(records(3), 3, 2, ts, ts + 50))
    assert (err, base) == (0, 0)
    s = helpers.connect(broker.addr)
    try:
        fetched = helpers.fetch_v4(s, topic, 0, 0)
    finally:
        s.close()
    (batch,) = helpers.parse_batches(fetched.records)
    assert batch.crc_ok
    assert batch.max_timestamp == ts + 2, batch


def test_clients_still_work_after_poison(broker, poisoned):
    """Whatever poison was sent before (the cases above), the partition is
    empty and a librdkafka producer and consumer work on it from offset 0."""
    assert log_end(broker.addr, poisoned) == 0
    msgs = helpers.make_messages(300, 1, tag="after-poison")
    delivered = produce_confluent(broker.bootstrap, poisoned, msgs[:150], "lz4", timeout=60)
    delivered.update(produce_confluent(broker.bootstrap, poisoned, msgs[150:], "zstd", timeout=60))
    consumed = consume_confluent(broker.bootstrap, poisoned, 1, len(msgs), timeout=60)
    helpers.verify_consumed(msgs, delivered, consumed, "after poison")
    assert log_end(broker.addr, poisoned) == len(msgs)


def test_record_timestamps_beyond_after_max_ms_are_refused(broker):
    """Kafka 4's message.timestamp.after.max.ms default (one hour): two hours
    ahead of the broker's clock is INVALID_TIMESTAMP, half an hour ahead is fine."""
    topic = helpers.unique_topic("future-ts")
    create_topic(broker.bootstrap, topic, 1)
    now = helpers.now_ms()
    err, _, _ = produce_raw(broker.addr, topic, helpers.build_batch([(b"k", b"v", [])], now + 2 * HOUR_MS))
    assert err == ERR_INVALID_TIMESTAMP, "two hours ahead: error %d" % err
    assert log_end(broker.addr, topic) == 0
    err, base, _ = produce_raw(broker.addr, topic, helpers.build_batch([(b"k", b"v", [])], now + HOUR_MS // 2))
    assert (err, base) == (0, 0), "half an hour ahead: error %d base %d" % (err, base)
    # An hour-old timestamp too: message.timestamp.before.max.ms is unlimited.
    err, base, _ = produce_raw(broker.addr, topic, helpers.build_batch([(b"k", b"v", [])], 1000))
    assert (err, base) == (0, 1), "a 1970 timestamp: error %d base %d" % (err, base)
    assert log_end(broker.addr, topic) == 2


def test_keyless_records_on_compacted_topics_are_refused_in_the_same_pass(broker):
    topic = helpers.unique_topic("poison-compact")
    create_topic(broker.bootstrap, topic, 1, config={"cleanup.policy": "compact"})
    batch = helpers.build_batch([(b"k0", b"v", []), (None, b"v", []), (b"k2", b"v", [])], helpers.now_ms())
    err, _, _ = produce_raw(broker.addr, topic, batch)
    assert err == ERR_INVALID_RECORD, "keyless record: error %d" % err
    assert log_end(broker.addr, topic) == 0
    for codec in ("none", "zstd"):
        err, _, _ = produce_raw(broker.addr, topic, honest(3, helpers.now_ms(), codec))
        assert err == 0, "%s keyed batch: error %d" % (codec, err)
    assert log_end(broker.addr, topic) == 6
