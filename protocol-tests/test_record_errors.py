"""KIP-467 per-record produce errors.

A batch refused for some of its records (keyless records on a compacted topic,
timestamps outside message.timestamp.before.max.ms / after.max.ms) is refused
whole, as Kafka does, but ProduceResponse v8+ names each bad record in
record_errors (its index in the batch and why) and says why in error_message.
librdkafka then fails exactly those records and reports every other record of
the batch as _INVALID_DIFFERENT_RECORD; kafka-python reads the fields and fails
the whole batch. Older Produce versions (v3-v7) have no such fields and keep
the plain partition error.
"""

import struct

import pytest
from confluent_kafka import KafkaError

import clients
import helpers
from helpers import summary

ERR_INVALID_TIMESTAMP = 32
ERR_INVALID_RECORD = 87
HOUR_MS = 3600 * 1000
# librdkafka's local code for "refused because another record of the batch was".
INVALID_DIFFERENT_RECORD = getattr(KafkaError, "_INVALID_DIFFERENT_RECORD", -138)
KEYLESS_MESSAGE = "Compacted topic cannot accept message without key in topic partition %s-0"


def log_end(addr, topic):
    err, _, off = helpers.list_offsets_v1(addr, topic, 0, -1)
    assert err == 0, "ListOffsets latest error %d" % err
    return off


def produce_one_batch(bootstrap, topic, records, codec="none"):
    """Sends `records` ((key, value, timestamp_ms or None)) as one batch: a
    linger far longer than the test, then one flush. Returns the delivery
    reports in send order as (error code or None, error string)."""
    p = clients.ck_producer(bootstrap, **{"linger.ms": 20000, "batch.num.messages": 10000,
                                          "message.timeout.ms": 60000, "retries": 2,
                                          "compression.type": codec})
    # Leader and connection first: messages produced while librdkafka still
    # looks the partition up may leave early in a batch of their own, and a
    # batch naming a single bad record gets librdkafka's other rule (below).
    p.list_topics(topic, timeout=10)
    reports = [None] * len(records)

    def on_delivery(i):
        def cb(err, msg):
            reports[i] = (err.code() if err else None, err.str() if err else "")
        return cb

    for i, (key, value, ts) in enumerate(records):
        extra = {"timestamp": ts} if ts is not None else {}
        p.produce(topic, key=key, value=value, partition=0, on_delivery=on_delivery(i), **extra)
    assert p.flush(60) == 0, "messages left in the producer queue"
    assert all(r is not None for r in reports), "a delivery report is missing"
    return reports


@pytest.mark.parametrize("codec", ["none", "zstd"])
def test_confluent_keyless_records_on_compacted_topic_fail_alone(broker, codec):
    topic = helpers.unique_topic("kip467-keyless")
    clients.create_topic(broker.bootstrap, topic, partitions=1, config={"cleanup.policy": "compact"})
    keyless = set(range(5, 100, 10))  # 10 of 100
    records = [(None if i in keyless else b"k%d" % i, b"v%d" % i, None) for i in range(100)]
    reports = produce_one_batch(broker.bootstrap, topic, records, codec)
    bad = {i for i, (code, _) in enumerate(reports) if code == KafkaError.INVALID_RECORD}
    different = {i for i, (code, _) in enumerate(reports) if code == INVALID_DIFFERENT_RECORD}
    assert bad == keyless, "INVALID_RECORD for %s, want %s" % (sorted(bad), sorted(keyless))
    assert different == set(range(100)) - keyless, reports
    # (librdkafka keeps each record's batch_index_error_message, but the Python
    # binding reports only the code's description; the raw tests below check
    # the messages.)
    # Kafka refuses the whole batch: nothing was appended.
    assert log_end(broker.addr, topic) == 0
    summary("KIP-467 compacted topic, 100 records in one %s batch, 10 keyless: %d INVALID_RECORD "
            "(exactly the keyless ones), %d _INVALID_DIFFERENT_RECORD, log end %d"
            % (codec, len(bad), len(different), log_end(broker.addr, topic)))


def test_confluent_timestamps_too_old_fail_alone(broker):
    topic = helpers.unique_topic("kip467-old")
    clients.create_topic(broker.bootstrap, topic, partitions=1,
                         config={"message.timestamp.before.max.ms": str(HOUR_MS)})
    now = helpers.now_ms()
    old = set(range(0, 100, 10))
    records = [(b"k%d" % i, b"v", now - 2 * HOUR_MS if i in old else now) for i in range(100)]
    reports = produce_one_batch(broker.bootstrap, topic, records)
    # librdkafka uses INVALID_RECORD for each named record when a batch names
    # more than one (the partition error, INVALID_TIMESTAMP, when just one).
    bad = {i for i, (code, _) in enumerate(reports) if code == KafkaError.INVALID_RECORD}
    different = {i for i, (code, _) in enumerate(reports) if code == INVALID_DIFFERENT_RECORD}
    assert bad == old, "INVALID_RECORD for %s, want %s" % (sorted(bad), sorted(old))
    assert different == set(range(100)) - old, reports

    # Exactly one bad record: librdkafka 2.16 then overwrites every record's
    # code with the partition's (rd_kafka_dr_msgq0 forces it unless a batch
    # names more than one record), so all 20 report INVALID_TIMESTAMP.
    records = [(b"k%d" % i, b"v", now - 2 * HOUR_MS if i == 3 else helpers.now_ms()) for i in range(20)]
    single = produce_one_batch(broker.bootstrap, topic, records)
    assert [code for code, _ in single] == [KafkaError.INVALID_TIMESTAMP] * 20, single
    assert log_end(broker.addr, topic) == 0
    # The same producer settings deliver a batch with no bad record.
    fine = produce_one_batch(broker.bootstrap, topic, [(b"k", b"v", helpers.now_ms())] * 5)
    assert [code for code, _ in fine] == [None] * 5, fine
    summary("KIP-467 before.max.ms=1h, 100 records, 10 two hours old: %d INVALID_RECORD, "
            "%d _INVALID_DIFFERENT_RECORD; 1 old of 20: all 20 INVALID_TIMESTAMP (librdkafka's rule)"
            % (len(bad), len(different)))


def test_kafka_python_parses_record_errors_and_fails_the_batch(broker):
    """kafka-python 2.2 sends Produce v8 and reads record_errors but does not
    use them: every record of the refused batch fails with InvalidRecordError,
    and the connection stays usable for the next batch."""
    from kafka import KafkaProducer
    from kafka.errors import InvalidRecordError

    topic = helpers.unique_topic("kip467-kp")
    clients.create_topic(broker.bootstrap, topic, partitions=1, config={"cleanup.policy": "compact"})
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=20000, batch_size=1 << 20,
                      acks="all", retries=2)
    try:
        futs = [p.send(topic, key=None if i in (3, 6) else b"k%d" % i, value=b"v", partition=0)
                for i in range(10)]
        p.flush(30)
        errors = [type(f.exception).__name__ if f.failed() else None for f in futs]
        assert all(f.failed() and isinstance(f.exception, InvalidRecordError) for f in futs), errors
        pending = p.send(topic, key=b"k", value=b"v", partition=0)
        p.flush(30)
        ok = pending.get(timeout=30)
        assert ok.offset == 0, ok
    finally:
        p.close(timeout=10)
    summary("KIP-467 kafka-python: 2 keyless of 10 -> all 10 %s (it ignores record_errors); "
            "next keyed record at offset %d" % (errors[0], ok.offset))


# --- raw protocol -----------------------------------------------------------

def produce_request(version, topic, batch, acks=1, timeout_ms=30000):
    if version < 9:
        return (helpers.string(None) + helpers.i16(acks) + helpers.i32(timeout_ms) + helpers.i32(1)
                + helpers.string(topic) + helpers.i32(1) + helpers.i32(0) + helpers.i32(len(batch)) + batch)
    tags = helpers.uvarint(0)
    return (helpers.compact_string(None) + helpers.i16(acks) + helpers.i32(timeout_ms)
            + helpers.uvarint(2) + helpers.compact_string(topic)
            + helpers.uvarint(2) + helpers.i32(0) + helpers.uvarint(len(batch) + 1) + batch + tags
            + tags + tags)


def produce_raw(addr, version, topic, batch):
    """One Produce of `batch` to partition 0; the partition's answer as a dict."""
    s = helpers.connect(addr)
    try:
        r = helpers.roundtrip(s, helpers.API_PRODUCE, version, produce_request(version, topic, batch),
                              correlation_id=467, flexible_header=version >= 9)
    finally:
        s.close()
    flexible = version >= 9
    if flexible:
        r.tagged_fields()  # response header v1
    arr = r.compact_array if flexible else r.array
    text = r.compact_string if flexible else r.string

    def partition(rr):
        p = {"index": rr.i32(), "error": rr.i16(), "base_offset": rr.i64(), "log_append_time": rr.i64()}
        if version >= 5:
            p["log_start_offset"] = rr.i64()
        if version >= 8:
            def record_error(re):
                e = (re.i32(), text())
                if flexible:
                    re.tagged_fields()
                return e
            p["record_errors"] = arr(record_error)
            p["error_message"] = text()
        if flexible:
            rr.tagged_fields()
        return p

    def topic_(rr):
        name = text()
        parts = arr(partition)
        if flexible:
            rr.tagged_fields()
        return name, parts

    topics = arr(topic_)
    assert len(topics) == 1 and len(topics[0][1]) == 1, topics
    return topics[0][1][0]


@pytest.fixture(scope="module")
def compacted(broker):
    topic = helpers.unique_topic("kip467-raw")
    clients.create_topic(broker.bootstrap, topic, partitions=1, config={"cleanup.policy": "compact"})
    return topic


def keyless_batch(n, keyless):
    return helpers.build_batch([(None if i in keyless else b"k%d" % i, b"v", []) for i in range(n)],
                               helpers.now_ms())


@pytest.mark.parametrize("version", [8, 11])
def test_raw_produce_names_the_keyless_records(broker, compacted, version):
    before = log_end(broker.addr, compacted)
    got = produce_raw(broker.addr, version, compacted, keyless_batch(8, {1, 4, 5, 7}))
    assert got["error"] == ERR_INVALID_RECORD, got
    assert got["base_offset"] == -1, got
    want_message = KEYLESS_MESSAGE % compacted
    assert got["record_errors"] == [(i, want_message) for i in (1, 4, 5, 7)], got
    assert got["error_message"] == (
        "One or more records have been rejected due to 4 record errors in total, and only showing "
        "the first three errors at most: [RecordError(batchIndex=1, message='%s'), "
        "RecordError(batchIndex=4, message='%s'), RecordError(batchIndex=5, message='%s')]"
        % (want_message, want_message, want_message)), got
    assert log_end(broker.addr, compacted) == before
    # A keyed batch on the same topic goes through, with no record errors.
    ok = produce_raw(broker.addr, version, compacted, keyless_batch(3, set()))
    assert ok["error"] == 0 and ok["record_errors"] == [] and ok["error_message"] is None, ok
    summary("KIP-467 raw Produce v%d: 4 keyless of 8 -> INVALID_RECORD, record_errors at %s"
            % (version, [i for i, _ in got["record_errors"]]))


@pytest.mark.parametrize("version", [8, 11])
def test_raw_produce_names_the_records_out_of_the_timestamp_window(broker, version):
    topic = helpers.unique_topic("kip467-ts")
    clients.create_topic(broker.bootstrap, topic, partitions=1,
                         config={"message.timestamp.before.max.ms": str(HOUR_MS)})
    now = helpers.now_ms()
    # Record i is at first_ts + i: records 0 and 1 are two hours old, 2 is two
    # hours ahead, built by hand so each gets its own delta.
    stamps = [now - 2 * HOUR_MS, now - 2 * HOUR_MS + 1, now + 2 * HOUR_MS, now]
    recs = b"".join(helpers.encode_record(i, ts - stamps[0], b"k", b"v") for i, ts in enumerate(stamps))
    batch = raw_batch(recs, len(stamps), stamps[0], max(stamps))
    before = helpers.now_ms()
    got = produce_raw(broker.addr, version, topic, batch)
    after = helpers.now_ms()
    assert got["error"] == ERR_INVALID_TIMESTAMP, got
    assert [i for i, _ in got["record_errors"]] == [0, 1, 2], got
    for (i, message) in got["record_errors"]:
        prefix = ("Timestamp %d of message with offset %d is out of range. The timestamp should be within ["
                  % (stamps[i], i))
        assert message.startswith(prefix), message
        low, high = message[len(prefix):].rstrip("]").split(", ")
        # The window is the broker's clock minus 1h / plus 1h (the default after.max.ms).
        assert before - HOUR_MS - 1000 <= int(low) <= after - HOUR_MS + 1000, message
        assert int(high) - int(low) == 2 * HOUR_MS, message
    assert got["error_message"] == "One or more records have been rejected due to invalid timestamp", got
    assert log_end(broker.addr, topic) == 0


def raw_batch(recs, count, first_ts, max_ts):
    after_crc = (helpers.i16(0) + helpers.i32(count - 1) + helpers.i64(first_ts) + helpers.i64(max_ts)
                 + helpers.i64(-1) + helpers.i16(-1) + helpers.i32(-1) + helpers.i32(count) + recs)
    crc = helpers.crc32c(after_crc)
    return (helpers.i64(0) + helpers.i32(4 + 1 + 4 + len(after_crc)) + helpers.i32(-1) + helpers.i8(2)
            + struct.pack(">I", crc) + after_crc)


@pytest.mark.parametrize("version", [3, 5, 7])
def test_older_versions_keep_the_plain_partition_error(broker, compacted, version):
    before = log_end(broker.addr, compacted)
    got = produce_raw(broker.addr, version, compacted, keyless_batch(6, {2, 3}))
    assert got["error"] == ERR_INVALID_RECORD, got
    assert "record_errors" not in got and got["base_offset"] == -1, got
    assert log_end(broker.addr, compacted) == before
