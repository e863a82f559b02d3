"""On-disk format: the partition's .log segment holds Kafka v2 record batches
exactly as produced (magic 2, valid CRC32C, producer's compression kept)."""

import os
import time

import helpers
from clients import ck_producer, create_topic

CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def test_crc32c_implementation():
    # Known answers for CRC-32C (Castagnoli).
    assert helpers.crc32c(b"123456789") == 0xE3069283
    assert helpers.crc32c(b"") == 0
    assert helpers.crc32c(b"\x00" * 32) == 0x8A9136AA


def produce_one_batch(bootstrap, topic, codec, records):
    """records: [(key, value, headers, ts)] -> all in one batch (long linger, single flush)."""
    p = ck_producer(bootstrap, **{"compression.type": codec, "linger.ms": 2000, "batch.num.messages": 100000})
    # Learn the leader first: records produced while librdkafka still waits for
    # metadata can be split over two batches on a loaded machine.
    p.list_topics(topic, timeout=10)
    acks = []
    for key, value, headers, ts in records:
        p.produce(topic, key=key, value=value, headers=headers, partition=0, timestamp=ts,
                  on_delivery=lambda err, msg: acks.append((err, msg.offset())))
    assert p.flush(30) == 0
    assert all(e is None for e, _ in acks), acks
    return [o for _, o in acks]


def segment_path(broker, topic):
    return os.path.join(broker.data_dir, "%s-0" % topic, "00000000000000000000.log")


def read_segment(path, min_size, timeout=10.0):
    """The broker may append asynchronously to its own write path; wait for the bytes."""
    deadline = time.time() + timeout
    data = b""
    while time.time() < deadline:
        if os.path.exists(path):
            with open(path, "rb") as f:
                data = f.read()
            if len(data.rstrip(b"\x00")) >= min_size:
                return data
        time.sleep(0.1)
    return data


def check_batch(batch, codec, base_offset, records, label):
    assert batch.magic == 2, "%s: magic %d" % (label, batch.magic)
    assert batch.crc_ok, "%s: CRC32C %08x does not match the batch contents" % (label, batch.crc)
    assert batch.attributes & 0x7 == CODEC_IDS[codec], "%s: compression attribute %d, produced with %s (%d)" % (
        label, batch.attributes & 7, codec, CODEC_IDS[codec])
    assert batch.records_count == len(records), "%s: records count %d != %d" % (
        label, batch.records_count, len(records))
    assert batch.base_offset == base_offset, "%s: base offset %d != %d" % (label, batch.base_offset, base_offset)
    assert batch.last_offset_delta == len(records) - 1, label
    assert batch.first_timestamp == records[0][3], label
    assert batch.max_timestamp == max(r[3] for r in records), label
    assert batch.attributes & 0x08 == 0, "%s: timestamp type should be CreateTime" % label
    assert batch.producer_id == -1, "%s: producer id %d for a non-idempotent producer" % (label, batch.producer_id)
    decoded = helpers.batch_records(batch)
    for n, (rec, (key, value, headers, ts)) in enumerate(zip(decoded, records)):
        assert rec.offset == base_offset + n, label
        assert (rec.key, rec.value, rec.headers, rec.timestamp) == (key, value, headers, ts), \
            "%s: record %d decoded as %r" % (label, n, rec)


def make_records(n, base_ts, tag):
    out = []
    for i in range(n):
        out.append((b"%s-k%d" % (tag.encode(), i), (b"%s value %d " % (tag.encode(), i)) * (i + 1),
                    [("i", b"%d" % i)], base_ts + i * 3))
    return out


def test_lz4_batch_on_disk(broker):
    topic = helpers.unique_topic("disk-lz4")
    create_topic(broker.bootstrap, topic, 1)
    recs = make_records(10, helpers.now_ms() - 60_000, "lz4")
    offs = produce_one_batch(broker.bootstrap, topic, "lz4", recs)
    assert offs == list(range(10)), offs
    path = segment_path(broker, topic)
    data = read_segment(path, helpers.BATCH_HEADER_SIZE)
    assert data, "no segment file at %s (dir has %r)" % (
        path, os.listdir(os.path.dirname(path)) if os.path.isdir(os.path.dirname(path)) else "no dir")
    batches = helpers.parse_batches(data.rstrip(b"\x00") if data.endswith(b"\x00" * 64) else data,
                                    allow_partial_tail=False)
    assert len(batches) == 1, "expected one batch in %s, found %d" % (path, len(batches))
    check_batch(batches[0], "lz4", 0, recs, "lz4 batch")
    helpers.summary("disk: %s: %d bytes, batch magic=%d attrs=%d crc=%08x(valid) records=%d"
                    % (os.path.relpath(path, broker.data_dir), len(data), batches[0].magic,
                       batches[0].attributes, batches[0].crc, batches[0].records_count))


def test_every_codec_batch_on_disk(broker):
    """One batch per codec appended to one partition: offsets are assigned by
    the broker (base offsets 0, 5, 10, ...) and each CRC is still valid."""
    topic = helpers.unique_topic("disk-all")
    create_topic(broker.bootstrap, topic, 1)
    base_ts = helpers.now_ms() - 30_000
    expected = []
    next_off = 0
    for codec in CODEC_IDS:
        recs = make_records(5, base_ts + next_off * 10, codec)
        offs = produce_one_batch(broker.bootstrap, topic, codec, recs)
        assert offs == list(range(next_off, next_off + 5)), (codec, offs)
        expected.append((codec, next_off, recs))
        next_off += 5
    path = segment_path(broker, topic)
    deadline = time.time() + 10
    while True:
        data = read_segment(path, helpers.BATCH_HEADER_SIZE)
        trimmed = data.rstrip(b"\x00") if data.endswith(b"\x00" * 64) else data
        batches = helpers.parse_batches(trimmed, allow_partial_tail=True)
        if len(batches) >= len(expected) or time.time() > deadline:
            break
        time.sleep(0.2)
    assert len(batches) == len(expected), "expected %d batches on disk, found %d" % (len(expected), len(batches))
    for batch, (codec, base, recs) in zip(batches, expected):
        check_batch(batch, codec, base, recs, "%s batch" % codec)

