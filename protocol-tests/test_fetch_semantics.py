"""Fetch semantics: starting in the middle of a batch, long polling
(max_wait / wake-up on new data), and progress when a record batch is larger
than the partition fetch limit."""

import os
import threading
import time

from confluent_kafka import KafkaError, TopicPartition

import helpers
from clients import ck_consumer, ck_producer, create_topic


def produce_batch(bootstrap, topic, values, linger=500, codec="none"):
    p = ck_producer(bootstrap, **{"linger.ms": linger, "compression.type": codec})
    out = []
    for n, v in enumerate(values):
        p.produce(topic, key=b"k%d" % n, value=v, partition=0, on_delivery=lambda e, m: out.append((e, m.offset())))
    assert p.flush(30) == 0
    assert all(e is None for e, _ in out), out
    return [o for _, o in out]


def test_fetch_from_middle_of_batch(broker):
    topic = helpers.unique_topic("midbatch")
    create_topic(broker.bootstrap, topic, 1)
    values = [b"value-%d" % n for n in range(10)]
    assert produce_batch(broker.bootstrap, topic, values, codec="lz4") == list(range(10))

    # Raw: a fetch at offset 5 returns the batch that contains offset 5 (it may start earlier).
    s = helpers.connect(broker.addr)
    try:
        part = helpers.fetch_v4(s, topic, 0, 5)
    finally:
        s.close()
    assert part.error_code == 0 and part.high_watermark == 10, part[:4]
    batches = helpers.parse_batches(part.records or b"")
    assert batches, "fetch at offset 5 returned no batches"
    first = batches[0]
    assert first.base_offset <= 5 <= first.base_offset + first.last_offset_delta, \
        "first batch covers %d..%d, not offset 5" % (first.base_offset, first.base_offset + first.last_offset_delta)
    assert first.crc_ok
    recs = [r for b in batches for r in helpers.batch_records(b)]
    assert [r.value for r in recs if r.offset >= 5] == values[5:]

    # Through librdkafka: assign at offset 5 -> first message is offset 5.
    for start in (5, 9, 0):
        c = ck_consumer(broker.bootstrap)
        try:
            c.assign([TopicPartition(topic, 0, start)])
            got = []
            deadline = time.time() + 20
            while len(got) < 10 - start and time.time() < deadline:
                for m in c.consume(100, timeout=0.5):
                    if m.error() is None:
                        got.append((m.offset(), m.value()))
            assert got == [(o, values[o]) for o in range(start, 10)], "assign at %d consumed %r" % (start, got)
        finally:
            c.close()


def test_fetch_offset_edges(broker):
    topic = helpers.unique_topic("edges")
    create_topic(broker.bootstrap, topic, 1)
    produce_batch(broker.bootstrap, topic, [b"a", b"b", b"c"], linger=0)
    s = helpers.connect(broker.addr)
    try:
        at_end = helpers.fetch_v4(s, topic, 0, 3, correlation_id=1)
        assert at_end.error_code == 0 and at_end.high_watermark == 3, at_end[:4]
        assert not at_end.records, "fetch at the high watermark returned %d bytes" % len(at_end.records)
        past = helpers.fetch_v4(s, topic, 0, 1000, correlation_id=2)
        assert past.error_code == 1, "fetch past the end: error %d, expected OFFSET_OUT_OF_RANGE (1)" % past.error_code
        neg = helpers.fetch_v4(s, topic, 0, -5, correlation_id=3)
        assert neg.error_code == 1, "fetch at offset -5: error %d, expected OFFSET_OUT_OF_RANGE (1)" % neg.error_code
        r = helpers.roundtrip(s, helpers.API_FETCH, 4,
                              helpers.encode_fetch_v4(topic, 7, 0, 0, 1, 1 << 20, 1 << 20), correlation_id=4)
        bad_part = helpers.decode_fetch_v4(r)[(topic, 7)]
        assert bad_part.error_code == helpers.ERR_UNKNOWN_TOPIC_OR_PARTITION, bad_part[:4]
    finally:
        s.close()


def test_long_poll_honours_max_wait(broker):
    topic = helpers.unique_topic("maxwait")
    create_topic(broker.bootstrap, topic, 1)
    s = helpers.connect(broker.addr, timeout=30)
    try:
        t0 = time.time()
        part = helpers.fetch_v4(s, topic, 0, 0, max_wait_ms=2000, min_bytes=1)
        elapsed = time.time() - t0
    finally:
        s.close()
    assert part.error_code == 0 and not part.records
    assert 1.7 <= elapsed <= 6.0, "empty fetch with max_wait_ms=2000 answered after %.2fs" % elapsed


def test_long_poll_wakes_on_new_data_raw(broker):
    topic = helpers.unique_topic("wake-raw")
    create_topic(broker.bootstrap, topic, 1)
    result = {}

    def fetcher():
        s = helpers.connect(broker.addr, timeout=30)
        try:
            t0 = time.time()
            result["part"] = helpers.fetch_v4(s, topic, 0, 0, max_wait_ms=15000, min_bytes=1)
            result["t"] = time.time()
            result["t0"] = t0
        except Exception as e:  # noqa: BLE001
            result["err"] = e
        finally:
            s.close()

    th = threading.Thread(target=fetcher)
    th.start()
    time.sleep(1.0)
    t_produce = time.time()
    produce_batch(broker.bootstrap, topic, [b"wake up"], linger=0)
    t_acked = time.time()
    th.join(30)
    assert "err" not in result, result.get("err")
    assert "part" in result, "parked fetch never answered"
    part = result["part"]
    assert part.records, "long-poll fetch answered without the new record"
    recs = [r for b in helpers.parse_batches(part.records) for r in helpers.batch_records(b)]
    assert recs and recs[0].value == b"wake up"
    latency = result["t"] - t_acked
    helpers.summary("long-poll raw: produce at +%.2fs, fetch answered %.3fs after the ack (max_wait 15s)"
                    % (t_produce - result["t0"], latency))
    assert result["t"] - t_produce < 2.0, "parked fetch answered %.2fs after the produce (max_wait 15 s)" % (
        result["t"] - t_produce)


def test_long_poll_wakes_consumer(broker):
    topic = helpers.unique_topic("wake")
    create_topic(broker.bootstrap, topic, 1)
    c = ck_consumer(broker.bootstrap, **{"fetch.wait.max.ms": 10000})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        # Let the consumer settle into a parked fetch with nothing to read.
        t_end = time.time() + 1.5
        while time.time() < t_end:
            for m in c.consume(10, timeout=0.2):
                assert m.error() is not None and m.error().code() == KafkaError._PARTITION_EOF, m.error()
        acked = {}

        def produce_later():
            time.sleep(1.0)
            produce_batch(broker.bootstrap, topic, [b"late"], linger=0)
            acked["t"] = time.time()

        th = threading.Thread(target=produce_later)
        th.start()
        got = None
        deadline = time.time() + 20
        while got is None and time.time() < deadline:
            for m in c.consume(10, timeout=0.1):
                if m.error() is None:
                    got = (time.time(), m.value())
        th.join()
        assert got is not None, "consumer never received the late message"
        assert got[1] == b"late"
        latency = got[0] - acked["t"]
        helpers.summary("long-poll consumer: message received %.3fs after its ack (fetch.wait.max.ms=10000)"
                        % latency)
        assert latency < 1.5, "consumer got the message %.2fs after it was acked" % latency
    finally:
        c.close()


def test_small_partition_fetch_limit_makes_progress(broker):
    topic = helpers.unique_topic("bigrec")
    create_topic(broker.bootstrap, topic, 1)
    big = os.urandom(100 * 1024)
    values = [b"small-0", big, b"small-2", big[::-1], b"small-4"]
    p = ck_producer(broker.bootstrap, **{"linger.ms": 0})
    for v in values:
        p.produce(topic, value=v, partition=0)
        assert p.flush(30) == 0  # each record its own batch

    # Raw: partition_max_bytes and max_bytes of 1 KiB still return a whole first batch.
    s = helpers.connect(broker.addr)
    try:
        part = helpers.fetch_v4(s, topic, 0, 1, max_bytes=1024, partition_max_bytes=1024)
    finally:
        s.close()
    assert part.error_code == 0
    batches = helpers.parse_batches(part.records or b"")
    assert batches, "1 KiB fetch limit at a 100 KiB batch returned %d bytes and no complete batch" % len(
        part.records or b"")
    assert helpers.batch_records(batches[0])[0].value == big

    # Clients with a 1 KiB per-partition limit get every record.
    c = ck_consumer(broker.bootstrap, **{"max.partition.fetch.bytes": 1024})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        got = []
        deadline = time.time() + 30
        while len(got) < len(values) and time.time() < deadline:
            for m in c.consume(10, timeout=0.5):
                if m.error() is None:
                    got.append(m.value())
        assert got == values, "confluent with max.partition.fetch.bytes=1024 got %d of %d" % (len(got), len(values))
    finally:
        c.close()

    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP
    kc = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False,
                       max_partition_fetch_bytes=1024, fetch_max_bytes=1024)
    try:
        tp = KTP(topic, 0)
        kc.assign([tp])
        kc.seek_to_beginning(tp)
        got = []
        deadline = time.time() + 30
        while len(got) < len(values) and time.time() < deadline:
            for recs in kc.poll(timeout_ms=500).values():
                got += [r.value for r in recs]
        assert got == values, "kafka-python with max_partition_fetch_bytes=1024 got %d of %d" % (
            len(got), len(values))
    finally:
        kc.close()
