"""Log compaction (cleanup.policy=compact): the background cleaner keeps the
latest record per key in the non-active segments, drops tombstones after
delete.retention.ms, never moves offsets and keeps each batch's codec;
keyless records are refused; __consumer_offsets is compacted the same way;
kill -9 in the middle of cleaning leaves a readable, complete log.

Everything is checked from outside: through Kafka clients and by reading the
partition's `.log` segment files (v2 batches, decoded in pure Python)."""

import os
import random
import struct
import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

import helpers
from clients import CODEC_IDS, CODECS, ck_producer, create_topic
from helpers import Broker, Reader

CLEANER_BACKOFF_MS = 200
COMPACT_OVERRIDES = {"log.cleaner.backoff.ms": CLEANER_BACKOFF_MS}

ERR_INVALID_RECORD = 87
OFFSETS_TOPIC = "__consumer_offsets"
OFFSETS_PARTITIONS = 50


@pytest.fixture(scope="module")
def cbroker():
    """One broker for the module's user-topic tests, cleaner every 200 ms."""
    yield from helpers.serve_broker(COMPACT_OVERRIDES, name="compaction-broker")


# ---------------------------------------------------------------------------
# Reading a partition directory from outside.
# ---------------------------------------------------------------------------

class Segment:
    def __init__(self, base, name, size, batches, trailing):
        self.base = base
        self.name = name
        self.size = size
        self.batches = batches
        self.trailing = trailing  # bytes after the last complete batch

    def records(self):
        for b in self.batches:
            for r in helpers.batch_records(b):
                yield b, r


def partition_dir(broker, topic, partition=0):
    return os.path.join(broker.data_dir, "%s-%d" % (topic, partition))


def log_files(pdir):
    """[(base_offset, file name)] of the .log segments, oldest first."""
    out = []
    for name in os.listdir(pdir):
        if name.endswith(".log"):
            stem = name[:-4]
            if len(stem) == 20 and stem.isdigit():
                out.append((int(stem), name))
    return sorted(out)


def log_bytes(pdir):
    total = 0
    for _, name in log_files(pdir):
        try:
            total += os.path.getsize(os.path.join(pdir, name))
        except FileNotFoundError:
            pass
    return total


def dir_bytes(pdir):
    total = 0
    for name in os.listdir(pdir):
        try:
            total += os.path.getsize(os.path.join(pdir, name))
        except FileNotFoundError:
            pass
    return total


def leftover_files(pdir):
    return sorted(n for n in os.listdir(pdir) if n.endswith(".cleaned") or n.endswith(".swap"))


def read_segments(pdir):
    """Parse every .log segment of a partition directory (the last is the active one).
    A segment removed while we list is skipped; a partial tail is reported, not parsed."""
    segs = []
    for base, name in log_files(pdir):
        try:
            with open(os.path.join(pdir, name), "rb") as f:
                data = f.read()
        except FileNotFoundError:
            continue
        pos = 0
        while pos + 12 <= len(data):
            _, blen = struct.unpack_from(">qi", data, pos)
            if blen < helpers.BATCH_HEADER_SIZE - 12 or pos + 12 + blen > len(data):
                break
            pos += 12 + blen
        batches = helpers.parse_batches(data[:pos], allow_partial_tail=False)
        segs.append(Segment(base, name, len(data), batches, len(data) - pos))
    return segs


def stable_segments(pdir, tries=20):
    """read_segments twice in a row with the same file names and sizes."""
    prev = None
    for _ in range(tries):
        segs = read_segments(pdir)
        sig = [(s.name, s.size) for s in segs]
        if sig == prev:
            return segs
        prev = sig
        time.sleep(0.2)
    return segs


def key_counts(segs):
    """{key: number of records} over the given segments."""
    counts = {}
    for s in segs:
        for _, r in s.records():
            counts[r.key] = counts.get(r.key, 0) + 1
    return counts


# ---------------------------------------------------------------------------
# Clients.
# ---------------------------------------------------------------------------

def produce_records(bootstrap, topic, records, codec="none", meta=None, **extra):
    """records: [(key, value)] to partition 0 -> [offset] in order; asserts every ack.
    meta: optional [(headers, timestamp)] parallel to records."""
    conf = {"compression.type": codec, "batch.num.messages": 100}
    conf.update(extra)
    p = ck_producer(bootstrap, **conf)
    acks = [None] * len(records)
    errors = []

    def cb(i, err, msg):
        if err is not None:
            errors.append((i, err))
        else:
            acks[i] = msg.offset()

    for i, (k, v) in enumerate(records):
        kw = {}
        if meta is not None:
            kw = {"headers": meta[i][0], "timestamp": meta[i][1]}
        while True:
            try:
                p.produce(topic, key=k, value=v, partition=0, on_delivery=lambda err, msg, i=i: cb(i, err, msg), **kw)
                break
            except BufferError:
                p.poll(0.05)
        if i % 1000 == 0:
            p.poll(0)
    assert p.flush(60) == 0, "producer to %s: messages still queued after 60 s" % topic
    assert not errors, "producer to %s: %d delivery errors, first %r" % (topic, len(errors), errors[:3])
    assert None not in acks, "producer to %s: missing acks" % topic
    return acks


def produce_each(bootstrap, topic, records, codec="none"):
    """One batch per record (flush after each): [offset]."""
    offs = []
    p = ck_producer(bootstrap, **{"compression.type": codec, "linger.ms": 0})
    for k, v in records:
        got = []
        p.produce(topic, key=k, value=v, partition=0, on_delivery=lambda err, msg: got.append((err, msg.offset())))
        assert p.flush(30) == 0
        assert got and got[0][0] is None, "produce to %s failed: %r" % (topic, got)
        offs.append(got[0][1])
    return offs


def high_watermark(bootstrap, topic, partition=0):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "hw-" + helpers.unique_topic("x")})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10, cached=False)
    finally:
        c.close()


def consume_all(bootstrap, topic, end, partition=0, timeout=45.0):
    """Every record of one partition from the beginning up to offset `end` (and
    whatever else arrived in the same fetches): [(offset, key, value)]."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "cmp-" + helpers.unique_topic("c"),
                  "enable.auto.commit": False, "enable.partition.eof": True,
                  "auto.offset.reset": "earliest"})
    out = []
    try:
        c.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
        deadline = time.time() + timeout
        while True:
            if time.time() > deadline:
                raise AssertionError("consumer: %d records from %s within %.0f s, last offset %s, end %d"
                                     % (len(out), topic, timeout, out[-1][0] if out else None, end))
            done = False
            for msg in c.consume(num_messages=5000, timeout=0.5):
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        if msg.offset() >= end:
                            done = True
                        continue
                    raise KafkaException(err)
                out.append((msg.offset(), msg.key(), msg.value()))
                if msg.offset() >= end - 1:
                    done = True  # later records (a live producer) are not waited for
            if done:
                return out
    finally:
        c.close()


def check_offsets_increasing(recs, label):
    prev = -1
    for off, _, _ in recs:
        assert off > prev, "%s: offset %d after %d (offsets must strictly increase)" % (label, off, prev)
        prev = off


def wait_until(cond, timeout, step=0.25, nudge=None, nudge_every=None):
    """Poll cond() until true; nudge() every nudge_every seconds. Returns (ok, seconds)."""
    t0 = time.time()
    last_nudge = t0
    while True:
        if cond():
            return True, time.time() - t0
        if time.time() - t0 > timeout:
            return False, time.time() - t0
        if nudge is not None and time.time() - last_nudge >= nudge_every:
            nudge()
            last_nudge = time.time()
        time.sleep(step)


def filler_value(rnd, size):
    return bytes(rnd.getrandbits(8) for _ in range(size))


# ---------------------------------------------------------------------------
# 1. A compacted user topic, every codec.
# ---------------------------------------------------------------------------

N_RECORDS = 20000
N_KEYS = 500
N_DELETED = 50
SEGMENT_BYTES = 16384


@pytest.mark.parametrize("codec", CODECS)
def test_compacted_topic_keeps_latest_per_key(cbroker, codec):
    b = cbroker
    rnd = random.Random("compact-%s" % codec)
    topic = helpers.unique_topic("compact-%s" % codec)
    reference = helpers.unique_topic("uncompacted-%s" % codec)
    conf = {"cleanup.policy": "compact", "segment.bytes": str(SEGMENT_BYTES),
            "min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": "100"}
    create_topic(b.bootstrap, topic, 1, config=conf)
    create_topic(b.bootstrap, reference, 1, config={"cleanup.policy": "delete", "segment.bytes": str(SEGMENT_BYTES)})

    keys = [b"key-%03d" % k for k in range(N_KEYS)]
    noise = filler_value(rnd, 4096)
    records = []
    for i in range(N_RECORDS):
        k = rnd.randrange(N_KEYS) if i < N_RECORDS - N_KEYS else (i * 7) % N_KEYS  # every key near the end too
        start = rnd.randrange(len(noise) - 48)
        # Repetitive enough that even a one-record batch compresses (librdkafka
        # sends a batch uncompressed when compression does not make it smaller).
        value = b"%s|k%03d|i%06d|" % (codec.encode(), k, i) + noise[start:start + 24] + b"compaction " * 24
        records.append((keys[k], value))
    # Headers and explicit timestamps (1 ms apart) must survive batch rebuilding.
    base_ts = helpers.now_ms() - 600_000
    meta = [([("i", b"%d" % i)] if i % 3 else [], base_ts + i) for i in range(N_RECORDS)]
    t0 = time.time()
    # At most 40 records (~13 KB) per batch: a batch larger than segment.bytes is refused.
    offs = produce_records(b.bootstrap, topic, records, codec, meta=meta, **{"batch.num.messages": 40})
    produce_records(b.bootstrap, reference, records, codec, meta=meta, **{"batch.num.messages": 40})
    by_offset = {o: kv for o, kv in zip(offs, records)}
    meta_of = {o: m for o, m in zip(offs, meta)}
    latest = {}
    for o, (k, v) in sorted(by_offset.items()):
        latest[k] = (o, v)
    assert len(latest) == N_KEYS

    deleted = sorted(rnd.sample(keys, N_DELETED))
    tomb_offs = produce_records(b.bootstrap, topic, [(k, None) for k in deleted], codec)
    for o, k in zip(tomb_offs, deleted):
        by_offset[o] = (k, None)
        latest[k] = (o, None)

    # Filler to one other key: each record is more than half a segment, so every
    # one of them rolls the segment before it and the data is no longer active.
    filler_key = b"filler"
    filler_size = SEGMENT_BYTES * 6 // 10

    def add_filler(n):
        recs = [(filler_key, b"F%06d" % rnd.randrange(10 ** 6) + filler_value(rnd, filler_size)) for _ in range(n)]
        for o, kv in zip(produce_each(b.bootstrap, topic, recs, codec), recs):
            by_offset[o] = kv
            latest[filler_key] = (o, kv[1])

    add_filler(3)
    produce_s = time.time() - t0
    pdir = partition_dir(b, topic)
    ref_dir = partition_dir(b, reference)
    ref_segments = len(log_files(ref_dir))
    ref_bytes = log_bytes(ref_dir)
    assert ref_segments >= 10, "reference topic rolled only %d segments (segment.bytes=%d)" % (ref_segments,
                                                                                                SEGMENT_BYTES)

    # Phase A: the log shrinks to a fraction of the uncompacted reference.
    limit = ref_bytes // 4
    ok, waited_a = wait_until(lambda: log_bytes(pdir) <= limit, 30)
    size_a = log_bytes(pdir)
    assert ok, ("%s: compacted topic still %d bytes of .log after %.0f s (uncompacted reference %d bytes in %d "
                "segments; expected <= %d); files: %r" % (codec, size_a, waited_a, ref_bytes, ref_segments, limit,
                                                         log_files(pdir)[:10]))

    # Phase B: every key at most once outside the active segment and the deleted
    # keys gone (tombstones expire after delete.retention.ms); new filler makes
    # dirty data, hence another cleaning round, while we wait.
    live_keys = set(keys) - set(deleted)

    def compacted():
        segs = read_segments(pdir)
        if not segs:
            return False
        counts = key_counts(segs[:-1])
        if any(counts.get(k, 0) > 1 for k in keys):
            return False
        all_counts = key_counts(segs)
        return not any(k in all_counts for k in deleted)

    ok, waited_b = wait_until(compacted, 30, nudge=lambda: add_filler(2), nudge_every=1.5)
    segs = stable_segments(pdir)
    counts = key_counts(segs)
    assert ok, ("%s: after %.0f s more: deleted keys still on disk: %r; keys more than once outside the active "
                "segment: %r" % (codec, waited_b, {k: counts[k] for k in deleted if k in counts},
                                 {k: c for k, c in key_counts(segs[:-1]).items() if c > 1 and k != filler_key}))

    # Consume from the beginning: one record per live key with its latest value.
    low, high = high_watermark(b.bootstrap, topic)
    expected_end = max(by_offset) + 1
    assert high == expected_end, "%s: high watermark %d, produced up to offset %d" % (codec, high, expected_end - 1)
    assert low == 0, "%s: log start offset moved to %d by compaction" % (codec, low)
    got = consume_all(b.bootstrap, topic, high)
    check_offsets_increasing(got, codec)
    assert got[-1][0] == high - 1, "%s: last consumed offset %d, end %d" % (codec, got[-1][0], high)
    per_key = {}
    for off, k, v in got:
        assert off in by_offset, "%s: consumed offset %d that was never produced" % (codec, off)
        assert by_offset[off] == (k, v), "%s: offset %d holds %r=%r, produced %r" % (
            codec, off, k, (v or b"")[:40], (by_offset[off][0], (by_offset[off][1] or b"")[:40]))
        per_key.setdefault(k, []).append(off)
    resurrected = sorted(k for k in deleted if k in per_key)
    assert not resurrected, "%s: deleted keys still consumed: %r" % (codec, resurrected[:10])
    missing = sorted(live_keys - set(per_key))
    assert not missing, "%s: %d live keys lost, e.g. %r" % (codec, len(missing), missing[:10])
    dup = {k: offs_ for k, offs_ in per_key.items() if k != filler_key and len(offs_) > 1}
    assert not dup, "%s: keys consumed more than once: %r" % (codec, dict(list(dup.items())[:5]))
    for k in live_keys:
        assert per_key[k] == [latest[k][0]], "%s: key %r at %r, latest produced at %d" % (
            codec, k, per_key[k], latest[k][0])
    assert per_key[filler_key][-1] == latest[filler_key][0]
    assert set(per_key) == live_keys | {filler_key}, sorted(set(per_key) - live_keys - {filler_key})[:5]

    # On disk: batches keep the producer's codec, CRCs are valid, records sit at
    # their original offsets.
    # (librdkafka sends a batch uncompressed when compression would not shrink it,
    # as for the random filler values, so filler-only and tombstone-only batches
    # may be codec 0.)
    codec_ids = set()
    n_batches = 0
    gap_batches = 0  # rebuilt batches: fewer records than their offset range
    for s in segs:
        assert s.trailing == 0 or s is segs[-1], "%s: %s has %d bytes after its last batch" % (
            codec, s.name, s.trailing)
        for bt in s.batches:
            n_batches += 1
            assert bt.crc_ok, "%s: %s batch at %d has a bad CRC" % (codec, s.name, bt.base_offset)
            assert bt.base_offset >= s.base, "%s: batch %d in segment %d" % (codec, bt.base_offset, s.base)
            recs = helpers.batch_records(bt)
            if len(recs) < bt.last_offset_delta + 1:
                gap_batches += 1
                assert recs[-1].offset <= bt.base_offset + bt.last_offset_delta, (codec, s.name, bt.base_offset)
            for r in recs:
                assert by_offset.get(r.offset) == (r.key, r.value), "%s: %s offset %d on disk holds %r" % (
                    codec, s.name, r.offset, (r.key, (r.value or b"")[:40]))
                if r.offset in meta_of:
                    assert (r.headers, r.timestamp) == meta_of[r.offset], \
                        "%s: %s offset %d headers/timestamp %r, produced %r" % (
                            codec, s.name, r.offset, (r.headers, r.timestamp), meta_of[r.offset])
            assert bt.max_timestamp == max(r.timestamp for r in recs), \
                "%s: %s batch %d max timestamp %d, records' max %d" % (
                    codec, s.name, bt.base_offset, bt.max_timestamp, max(r.timestamp for r in recs))
            if any(r.key != filler_key and r.value is not None for r in recs):
                codec_ids.add(bt.attributes & 7)
            else:
                assert bt.attributes & 7 in (0, CODEC_IDS[codec]), (codec, bt.attributes)
    assert codec_ids == {CODEC_IDS[codec]}, "%s: stored data batches have codecs %r, produced with %d" % (
        codec, sorted(codec_ids), CODEC_IDS[codec])
    assert gap_batches >= 1, "%s: no stored batch lost a record, yet 50 of the newest records were deleted" % codec
    ref_codecs = {bt.attributes & 7 for s in read_segments(ref_dir) for bt in s.batches}
    assert ref_codecs == {CODEC_IDS[codec]}, "%s: uncompacted reference batches have codecs %r" % (codec, ref_codecs)
    final_bytes = log_bytes(pdir)
    helpers.summary("compaction %s: %d records/%d keys + %d tombstones (+filler) produced in %.1fs; .log %d bytes "
                    "(uncompacted %d in %d segments) after %.1fs, tombstones gone after %.1fs more; consumed %d "
                    "(%d live keys + filler), %d segments/%d batches (%d with gaps) on disk, codec %d kept"
                    % (codec, N_RECORDS, N_KEYS, N_DELETED, produce_s, final_bytes, ref_bytes, ref_segments,
                       waited_a, waited_b, len(got), len(live_keys), len(segs), n_batches, gap_batches,
                       CODEC_IDS[codec]))


# ---------------------------------------------------------------------------
# 1b. min.compaction.lag.ms, delete.retention.ms and max.compaction.lag.ms.
# ---------------------------------------------------------------------------

def non_active_dups(pdir):
    """Keys found more than once outside the active segment."""
    segs = read_segments(pdir)
    return {k: c for k, c in key_counts(segs[:-1]).items() if c > 1} if len(segs) > 1 else {"<one segment>": 2}


def test_compaction_settings_respected(cbroker):
    b = cbroker
    rnd = random.Random("settings")
    base = {"cleanup.policy": "compact", "segment.bytes": str(SEGMENT_BYTES)}
    topics = {
        "lag": dict(base, **{"min.cleanable.dirty.ratio": "0.01", "min.compaction.lag.ms": "3600000"}),
        "tomb": dict(base, **{"min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": "3600000"}),
        "maxlag": dict(base, **{"min.cleanable.dirty.ratio": "0.99", "max.compaction.lag.ms": "1500"}),
        "nomax": dict(base, **{"min.cleanable.dirty.ratio": "0.99"}),
    }
    names = {}
    for role, conf in topics.items():
        names[role] = helpers.unique_topic("settings-%s" % role)
        create_topic(b.bootstrap, names[role], 1, config=conf)
    keys = [b"s-%02d" % k for k in range(20)]
    unique = [(b"u-%03d" % i, b"unique|%d|" % i + b"u" * 100) for i in range(400)]
    dups = [(keys[i % 20], b"dup|%d|" % i + b"x" * 60) for i in range(2000)]
    deleted = [keys[3], keys[11]]
    produced = {role: {} for role in topics}
    latest = {role: {} for role in topics}

    def send(role, recs, each=False):
        offs = (produce_each if each else produce_records)(b.bootstrap, names[role], recs)
        for o, kv in zip(offs, recs):
            produced[role][o] = kv
            latest[role][kv[0]] = o

    def filler(n):
        return [(b"filler", filler_value(rnd, SEGMENT_BYTES * 6 // 10)) for _ in range(n)]

    # First about 50 KB of distinct keys, then a pause of several cleaner passes:
    # the first round (dirty ratio 1.0) runs over it and removes nothing, so the
    # ratio-0.99 topics now have a clean part too big for their ratio to be met.
    for role in topics:
        send(role, unique)
    time.sleep(1.0)
    for role in topics:
        send(role, dups)
        if role == "tomb":
            send(role, [(k, None) for k in deleted])
        send(role, filler(3), each=True)
    t_written = time.time()
    dirs = {role: partition_dir(b, names[role]) for role in topics}
    for role in ("tomb", "maxlag"):
        ok, waited = wait_until(lambda: not non_active_dups(dirs[role]), 30)
        assert ok, "%s: not compacted after 30 s: %r" % (role, non_active_dups(dirs[role]))
        if role == "maxlag":
            maxlag_s = time.time() - t_written
    time.sleep(max(0.0, t_written + 3.0 - time.time()))
    nomax_dups = non_active_dups(dirs["nomax"])
    assert nomax_dups, "min.cleanable.dirty.ratio=0.99 topic was compacted although its dirty ratio is below 0.99"
    maxlag_segments = read_segments(dirs["maxlag"])

    # delete.retention.ms of an hour: the tombstones stay (older values are gone).
    got = consume_all(b.bootstrap, names["tomb"], max(produced["tomb"]) + 1)
    per_key = {}
    for off, k, v in got:
        assert produced["tomb"][off] == (k, v)
        per_key.setdefault(k, []).append((off, v))
    for k in deleted:
        assert per_key.get(k) == [(latest["tomb"][k], None)], \
            "tombstone of %r (delete.retention.ms=1h) not kept alone: %r" % (k, per_key.get(k))
    for k in set(keys) - set(deleted):
        assert [o for o, _ in per_key[k]] == [latest["tomb"][k]], (k, per_key[k])

    # max.compaction.lag.ms made the low-ratio log due: latest per key, all unique keys.
    got = consume_all(b.bootstrap, names["maxlag"], max(produced["maxlag"]) + 1)
    seen = {}
    for off, k, v in got:
        assert produced["maxlag"][off] == (k, v)
        seen.setdefault(k, []).append(off)
    for k in keys + [u for u, _ in unique]:
        assert seen.get(k) == [latest["maxlag"][k]], "maxlag: %r at %r, latest %d" % (k, seen.get(k),
                                                                                        latest["maxlag"][k])

    # min.compaction.lag.ms of an hour: nothing was removed, many segments later.
    lag_segments = len(log_files(dirs["lag"]))
    got_lag = consume_all(b.bootstrap, names["lag"], max(produced["lag"]) + 1)
    assert len(got_lag) == len(produced["lag"]), "min.compaction.lag.ms=1h: %d of %d records left" % (
        len(got_lag), len(produced["lag"]))
    assert lag_segments >= 5, lag_segments
    helpers.summary("compaction settings: min.compaction.lag.ms=1h kept all %d records in %d segments; "
                    "delete.retention.ms=1h kept %d tombstones; ratio 0.99 + max.compaction.lag.ms=1.5s compacted "
                    "%.1fs after the writes (%d segments left) while its ratio-only twin kept %d keys duplicated"
                    % (len(got_lag), lag_segments, len(deleted), maxlag_s, len(maxlag_segments), len(nomax_dups)))


# ---------------------------------------------------------------------------
# 1c. Reading while the cleaner rewrites segments.
# ---------------------------------------------------------------------------

READ_RECORDS = 30000
READ_KEYS = 300


def read_key(i):
    return b"r-%03d" % ((i * 37 + i // 1000) % READ_KEYS)


def read_value(i):
    return b"read|i%07d|" % i + b"z" * (i % 50)


def test_reads_during_cleaning(cbroker):
    """Consumers from the beginning and raw fetches at arbitrary offsets while
    data arrives and segments are rewritten: every record served is the one
    produced at that offset, fetching inside a gap returns the next records,
    and afterwards offsetsForTimes lands on the next surviving record."""
    import threading
    b = cbroker
    topic = helpers.unique_topic("compact-reads")
    create_topic(b.bootstrap, topic, 1, config={"cleanup.policy": "compact", "segment.bytes": "8192",
                                                "min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": "100"})
    base_ts = helpers.now_ms() - 3_600_000
    acked = []
    errors = []

    def producer():
        try:
            p = ck_producer(b.bootstrap, **{"linger.ms": 2, "batch.num.messages": 50})
            for i in range(READ_RECORDS):
                while True:
                    try:
                        p.produce(topic, key=read_key(i), value=read_value(i), partition=0, timestamp=base_ts + i,
                                  on_delivery=lambda err, msg: acked.append(err) if err else None)
                        break
                    except BufferError:
                        p.poll(0.05)
                if i % 500 == 0:
                    p.poll(0)
                    time.sleep(0.08)  # spread the data over a few seconds of cleaning
            assert p.flush(60) == 0
        except Exception as e:  # reported by the main thread
            errors.append(repr(e))

    th = threading.Thread(target=producer, daemon=True)
    th.start()
    passes = 0
    fetched = 0
    gap_fetches = 0
    rnd = random.Random(7)

    def check_record(off, k, v, label):
        assert v is not None and v.startswith(b"read|i"), "%s: offset %d value %r" % (label, off, (v or b"")[:30])
        i = int(v[6:13])
        assert (off, k, v) == (i, read_key(i), read_value(i)), "%s: offset %d holds record %d (key %r)" % (
            label, off, i, k)

    def raw_fetches(hw):
        nonlocal fetched, gap_fetches
        s = helpers.connect(b.addr)
        try:
            for _ in range(20):
                x = rnd.randrange(hw)
                part = helpers.fetch_v4(s, topic, 0, x, partition_max_bytes=64 << 10)
                assert part.error_code == 0, "fetch at %d (hw %d): error %d" % (x, hw, part.error_code)
                batches = helpers.parse_batches(part.records or b"")
                assert batches, "fetch at %d below hw %d returned no batch" % (x, hw)
                first = batches[0]
                assert first.base_offset + first.last_offset_delta >= x, \
                    "fetch at %d returned a batch ending at %d" % (x, first.base_offset + first.last_offset_delta)
                recs = [r for bt in batches for r in helpers.batch_records(bt) if r.offset >= x]
                assert all(bt.crc_ok for bt in batches), "fetch at %d: bad CRC" % x
                if recs and recs[0].offset != x:
                    gap_fetches += 1
                for r in recs:
                    check_record(r.offset, r.key, r.value, "raw fetch at %d" % x)
                fetched += 1
        finally:
            s.close()

    deadline = time.time() + 60
    while th.is_alive() and time.time() < deadline:
        _, hw = high_watermark(b.bootstrap, topic)
        if hw < 100:
            time.sleep(0.1)
            continue
        got = consume_all(b.bootstrap, topic, hw, timeout=30)
        check_offsets_increasing(got, "pass %d" % passes)
        for off, k, v in got:
            check_record(off, k, v, "consumer pass %d" % passes)
        raw_fetches(hw)
        passes += 1
    th.join(60)
    assert not errors and not acked, "producer failed: %r %r" % (errors, acked[:3])
    assert passes >= 2, "only %d consumer passes while producing" % passes

    # Once the cleaner is done: exactly the latest record per key, and
    # offsetsForTimes of a removed record's timestamp gives the next survivor.
    last_of = {}
    for i in range(READ_RECORDS):
        last_of[read_key(i)] = i
    survivors_expected = sorted(last_of.values())
    pdir = partition_dir(b, topic)

    def roll_and_check():
        return not non_active_dups(pdir)

    filler = [(b"filler", filler_value(rnd, 8192 * 6 // 10)) for _ in range(3)]
    produce_each(b.bootstrap, topic, filler)
    ok, waited = wait_until(roll_and_check, 30)
    assert ok, "not compacted 30 s after the last write: %d keys duplicated" % len(non_active_dups(pdir))
    _, hw = high_watermark(b.bootstrap, topic)
    got = consume_all(b.bootstrap, topic, hw)
    data = [(o, k, v) for o, k, v in got if k != b"filler"]
    for off, k, v in data:
        check_record(off, k, v, "final")
    assert [o for o, _, _ in data] == survivors_expected, \
        "final: %d data records (expected %d), first difference at %r" % (
            len(data), len(survivors_expected),
            next((pair for pair in zip([o for o, _, _ in data], survivors_expected) if pair[0] != pair[1]), None))
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "ts-" + helpers.unique_topic("t")})
    try:
        probes = rnd.sample([i for i in range(READ_RECORDS) if last_of[read_key(i)] != i], 30)
        res = c.offsets_for_times([TopicPartition(topic, 0, base_ts + i) for i in probes], timeout=20)
        for i, tp in zip(probes, res):
            want = next(o for o in survivors_expected if o >= i)
            assert tp.error is None and tp.offset == want, \
                "offsetsForTimes(ts of removed record %d) -> %r, next surviving record is at %d" % (
                    i, (tp.offset, tp.error), want)
    finally:
        c.close()
    helpers.summary("compaction reads: %d records/%d keys produced while %d consumer passes and %d raw fetches "
                    "(%d landing in gaps) read them; final log has the %d latest records; offsetsForTimes of "
                    "30 removed records -> next survivor" % (READ_RECORDS, READ_KEYS, passes, fetched, gap_fetches,
                                                            len(survivors_expected)))


# ---------------------------------------------------------------------------
# 1d. cleanup.policy=compact,delete: retention and compaction together.
# ---------------------------------------------------------------------------

def test_compact_delete_policy(broker_factory):
    b = broker_factory(overrides={"log.cleaner.backoff.ms": CLEANER_BACKOFF_MS,
                                  "log.retention.check.interval.ms": 200}, name="compact-delete")
    topic = helpers.unique_topic("compact-delete")
    create_topic(b.bootstrap, topic, 1, config={
        "cleanup.policy": "compact,delete", "segment.bytes": "8192", "retention.ms": "60000",
        "min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": "100"})
    now = helpers.now_ms()
    # Old records (an hour ago, past retention.ms) under keys never written again,
    # then current records overwriting 30 keys many times.
    old = [(b"old-%04d" % i, b"old|%d|" % i + b"o" * 80) for i in range(610)]
    old_meta = [([], now - 3_600_000 + i) for i in range(610)]
    new = [(b"new-%02d" % (i % 30), b"new|%d|" % i + b"n" * 80) for i in range(3000)]
    new_meta = [([], now + i // 100) for i in range(3000)]
    offs = produce_records(b.bootstrap, topic, old, meta=old_meta, **{"batch.num.messages": 20})
    offs += produce_records(b.bootstrap, topic, new, meta=new_meta, **{"batch.num.messages": 20})
    rnd = random.Random(5)
    filler = [(b"filler", filler_value(rnd, 8192 * 6 // 10)) for _ in range(3)]
    offs += produce_each(b.bootstrap, topic, filler)
    by_offset = dict(zip(offs, old + new + filler))
    latest = {}
    for o in sorted(by_offset):
        latest[by_offset[o][0]] = o
    first_new = offs[len(old)]
    pdir = partition_dir(b, topic)

    def done():
        low, _ = high_watermark(b.bootstrap, topic)
        return low > 0 and not non_active_dups(pdir)

    ok, waited = wait_until(done, 30, step=0.5)
    low, high = high_watermark(b.bootstrap, topic)
    assert ok, "compact,delete: after %.0f s log start %d (old data ends at %d), duplicated keys %d" % (
        waited, low, first_new, len(non_active_dups(pdir)))
    # (The log start may pass first_new: compaction empties the early segments of
    # current data, and a segment left with only hour-old records is then deleted.)
    got = consume_all(b.bootstrap, topic, high)
    check_offsets_increasing(got, "compact,delete")
    assert got[0][0] >= low
    seen = {}
    for off, k, v in got:
        assert by_offset[off] == (k, v), "offset %d holds %r" % (off, (k, v))
        seen.setdefault(k, []).append(off)
    for k in {kv[0] for kv in new}:
        assert seen.get(k) == [latest[k]], "key %r at %r, latest %d" % (k, seen.get(k), latest[k])
    old_left = sorted(k for k in seen if k.startswith(b"old-"))
    assert all(latest[k] >= low for k in old_left)
    # Old records from the log start on are all there: segments go whole, and
    # records with unique keys are not compacted.
    must_remain = sorted(kv[0] for o, kv in by_offset.items() if kv[0].startswith(b"old-") and o >= low)
    assert old_left == must_remain, "old records from offset %d: consumed %d, expected %d" % (
        low, len(old_left), len(must_remain))
    assert len(old_left) < len(old), "retention removed none of the hour-old records"
    helpers.summary("compaction compact,delete: log start moved to %d (hour-old records end at %d, %d of %d left) "
                    "after %.1fs; the 30 current keys once each at their latest offset"
                    % (low, first_new, len(old_left), len(old), waited))


# ---------------------------------------------------------------------------
# 2. Keyless records are refused by compacted topics.
# ---------------------------------------------------------------------------

def produce_outcome(bootstrap, topic, key, value):
    p = ck_producer(bootstrap, **{"retries": 0, "message.timeout.ms": 10000})
    got = []
    p.produce(topic, key=key, value=value, partition=0, on_delivery=lambda err, msg: got.append((err, msg.offset())))
    assert p.flush(20) == 0, "produce to %s not answered" % topic
    assert len(got) == 1
    return got[0]


def raw_produce(addr, topic, batch):
    s = helpers.connect(addr)
    try:
        r = helpers.roundtrip(s, helpers.API_PRODUCE, 3, helpers.encode_produce_v3(topic, 0, batch, acks=-1))
    finally:
        s.close()
    return helpers.decode_produce_v3(r)[(topic, 0)]


@pytest.mark.parametrize("policy", ["compact", "compact,delete"])
def test_keyless_record_refused(cbroker, policy):
    b = cbroker
    topic = helpers.unique_topic("keyless")
    create_topic(b.bootstrap, topic, 1, config={"cleanup.policy": policy})
    plain = helpers.unique_topic("keyless-plain")
    create_topic(b.bootstrap, plain, 1, config={"cleanup.policy": "delete"})

    err, _ = produce_outcome(b.bootstrap, topic, None, b"no key")
    assert err is not None and err.code() == KafkaError.INVALID_RECORD, \
        "%s: keyless record answered %r, expected INVALID_RECORD" % (policy, err)
    err_t, _ = produce_outcome(b.bootstrap, topic, None, None)
    assert err_t is not None and err_t.code() == KafkaError.INVALID_RECORD, \
        "%s: keyless tombstone answered %r, expected INVALID_RECORD" % (policy, err_t)
    # The same record is fine on a delete-policy topic.
    err_p, off_p = produce_outcome(b.bootstrap, plain, None, b"no key")
    assert err_p is None and off_p == 0, (err_p, off_p)

    # Keyed records are accepted, from offset 0 (the refused ones took no offset).
    offs = produce_records(b.bootstrap, topic, [(b"k%d" % i, b"v%d" % i) for i in range(10)])
    assert offs == list(range(10)), offs

    # A batch mixing keyed and keyless records is refused as a whole.
    mixed = helpers.build_batch([(b"a", b"1", []), (None, b"2", []), (b"c", b"3", [])], helpers.now_ms())
    code, base, _ = raw_produce(b.addr, topic, mixed)
    assert code == ERR_INVALID_RECORD, "%s: mixed batch answered error %d (base %d)" % (policy, code, base)
    ok_batch = helpers.build_batch([(b"a", b"1", []), (b"c", b"3", [])], helpers.now_ms())
    code2, base2, _ = raw_produce(b.addr, topic, ok_batch)
    assert (code2, base2) == (0, 10), "%s: keyed raw batch answered %r" % (policy, (code2, base2))

    low, high = high_watermark(b.bootstrap, topic)
    assert (low, high) == (0, 12), "%s: watermarks %r after refused records" % (policy, (low, high))
    got = consume_all(b.bootstrap, topic, high)
    assert [o for o, _, _ in got] == list(range(12))
    assert all(k is not None for _, k, _ in got)
    helpers.summary("compaction keyless (%s): record/tombstone/mixed batch -> INVALID_RECORD (%d); 12 keyed "
                    "records at 0..11" % (policy, ERR_INVALID_RECORD))


# ---------------------------------------------------------------------------
# 3. __consumer_offsets is compacted.
# ---------------------------------------------------------------------------

def java_string_hash(s):
    h = 0
    data = s.encode("utf-16-be")
    for n in range(0, len(data), 2):
        h = (31 * h + ((data[n] << 8) | data[n + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def offsets_partition_for(group, partitions=OFFSETS_PARTITIONS):
    h = java_string_hash(group)
    return (0 if h == -(1 << 31) else abs(h)) % partitions


def decode_offsets_key(key):
    r = Reader(key)
    ver = r.i16()
    if ver in (0, 1):
        out = ("offset", r.string(), r.string(), r.i32())
    elif ver == 2:
        out = ("group", r.string())
    else:
        raise AssertionError("unknown __consumer_offsets key version %d: %r" % (ver, key))
    assert r.remaining() == 0, "trailing bytes in key %r" % key
    return ver, out


def decode_offset_value(value):
    """(version, offset, leader_epoch, metadata, commit_timestamp) of an OffsetCommitValue."""
    if value is None:
        return None
    r = Reader(value)
    ver = r.i16()
    assert 0 <= ver <= 3, "OffsetCommitValue version %d" % ver
    offset = r.i64()
    epoch = r.i32() if ver >= 3 else -1
    metadata = r.string()
    ts = r.i64()
    if ver == 1:
        r.i64()  # expire timestamp
    assert r.remaining() == 0, "trailing bytes in OffsetCommitValue v%d" % ver
    return ver, offset, epoch, metadata, ts


def test_java_string_hash():
    # Known values of Java's String.hashCode().
    assert java_string_hash("") == 0
    assert java_string_hash("a") == 97
    assert java_string_hash("hello") == 99162322
    assert java_string_hash("polygenelubricants") == -(1 << 31)
    assert offsets_partition_for("polygenelubricants") == 0


def committed_map(bootstrap, group, topic, parts):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        res = c.committed([TopicPartition(topic, p) for p in parts], timeout=20)
    finally:
        c.close()
    out = {}
    for tp in res:
        assert tp.error is None, "committed(%s-%d): %r" % (tp.topic, tp.partition, tp.error)
        out[tp.partition] = (tp.offset, tp.metadata)
    return out


N_COMMITS = 3000


def test_consumer_offsets_compacted(broker_factory):
    b = broker_factory(overrides={"log.cleaner.backoff.ms": CLEANER_BACKOFF_MS,
                                  "offsets.topic.segment.bytes": 4096}, name="offsets-compaction")
    topic = helpers.unique_topic("committed")
    create_topic(b.bootstrap, topic, 3)
    group = "compaction-group-" + helpers.unique_topic("g")
    gp = offsets_partition_for(group)
    parts = [0, 1, 2]

    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group, "enable.auto.commit": False})
    t0 = time.time()
    peak_log = peak_dir = 0
    last = {}
    pdir = partition_dir(b, OFFSETS_TOPIC, gp)
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        for n in range(N_COMMITS):
            tps = [TopicPartition(topic, p, n * 10 + p + 1, "c%d-p%d" % (n, p)) for p in parts]
            res = c.commit(offsets=tps, asynchronous=False)
            for tp in res:
                assert tp.error is None, "commit %d of %s-%d: %r" % (n, tp.topic, tp.partition, tp.error)
            for tp in tps:
                last[tp.partition] = (tp.offset, tp.metadata)
            if n % 100 == 0 and os.path.isdir(pdir):
                # Sampled while committing: the cleaner runs meanwhile and may be done by the end.
                peak_log = max(peak_log, log_bytes(pdir))
                peak_dir = max(peak_dir, dir_bytes(pdir))
    finally:
        c.close()
    commit_s = time.time() - t0
    assert os.path.isdir(pdir), "no directory %s for group %r (partition %d); offsets dirs: %r" % (
        pdir, group, gp, sorted(n for n in os.listdir(b.data_dir) if n.startswith(OFFSETS_TOPIC))[:5])
    peak_log = max(peak_log, log_bytes(pdir))
    peak_dir = max(peak_dir, dir_bytes(pdir))
    # What the commits weigh at least: a 61-byte batch header plus key and value bytes per record.
    key_len = 2 + 2 + len(group) + 2 + len(topic) + 4
    val_len = 2 + 8 + 4 + 2 + len("c0000-p0") + 8
    written_min = N_COMMITS * (61 + 3 * (key_len + val_len))

    def compacted():
        segs = read_segments(pdir)
        if len(segs) < 2:
            return False
        counts = {}
        for s in segs[:-1]:
            for _, r in s.records():
                counts[r.key] = counts.get(r.key, 0) + 1
        return all(v <= 1 for v in counts.values()) and log_bytes(pdir) * 10 <= written_min

    ok, waited = wait_until(compacted, 30)
    segs = stable_segments(pdir)
    final_log = log_bytes(pdir)
    final_dir = dir_bytes(pdir)
    assert ok, ("__consumer_offsets-%d not compacted %.0f s after %d commits: .log %d bytes (peak seen %d, "
                "commits wrote >= %d), %d segments" % (gp, waited, N_COMMITS, final_log, peak_log, written_min,
                                                       len(segs)))
    assert final_dir < peak_dir, "partition dir did not shrink: %d -> %d bytes" % (peak_dir, final_dir)

    # Decode what is left: about one record per (group, topic, partition) outside the
    # active segment; the newest record of each is the last commit.
    inactive = {}
    newest = {}
    versions = set()
    n_records = 0
    for idx, s in enumerate(segs):
        for bt, r in s.records():
            n_records += 1
            assert bt.crc_ok
            kver, key = decode_offsets_key(r.key)
            if key[0] != "offset":
                continue
            _, g, t, p = key
            assert (g, t) == (group, topic) and p in parts, "unexpected offset key in partition %d: %r" % (gp, key)
            val = decode_offset_value(r.value)
            assert val is not None, "tombstone for %r at %d" % (key, r.offset)
            versions.add((kver, val[0]))
            if idx < len(segs) - 1:
                inactive[p] = inactive.get(p, 0) + 1
            if p not in newest or r.offset > newest[p][0]:
                newest[p] = (r.offset, val)
    assert all(v <= 1 for v in inactive.values()), "more than one record per partition left: %r" % inactive
    active_records = sum(1 for _ in segs[-1].records())
    assert n_records <= len(parts) + active_records + 3, (n_records, active_records)
    for p in parts:
        assert p in newest, "no record left for %s-%d" % (topic, p)
        _, (_, off, _, meta, _) = newest[p]
        # confluent-kafka-python sends metadata with its C terminator (strlen + 1 bytes).
        assert (off, meta) == (last[p][0], last[p][1] + "\x00"), \
            "newest stored commit of p%d is %r, last committed %r" % (p, (off, meta), last[p])

    got = committed_map(b.bootstrap, group, topic, parts)
    assert got == last, "committed() after compaction %r, last commits %r" % (got, last)
    b.restart()
    got_restart = committed_map(b.bootstrap, group, topic, parts)
    assert got_restart == last, "committed() after a restart %r, last commits %r" % (got_restart, last)
    b.kill9()
    b.start()
    got_kill = committed_map(b.bootstrap, group, topic, parts)
    assert got_kill == last, "committed() after kill -9 and start %r, last commits %r" % (got_kill, last)
    helpers.summary("compaction __consumer_offsets-%d: %d commits x3 in %.1fs (>= %d bytes written, peak .log seen "
                    "%d); after %.1fs .log %d bytes, dir %d -> %d bytes, %d records left (%d in active segment), "
                    "key/value versions %r; committed() intact after restart and kill -9"
                    % (gp, N_COMMITS, commit_s, written_min, peak_log, waited, final_log, peak_dir, final_dir,
                       n_records, active_records, sorted(versions)))


# ---------------------------------------------------------------------------
# 4. kill -9 while the cleaner works.
# ---------------------------------------------------------------------------

CRASH_RECORDS = 80000
CRASH_KEYS = 400
CRASH_DELETED = 20
CRASH_SEGMENT_BYTES = 4096
CRASH_CYCLES = 6


def test_kill9_during_cleaning(broker_factory):
    # Produce with the cleaner effectively off, so everything is dirty at the next start.
    b = broker_factory(overrides={"log.cleaner.backoff.ms": 3600000}, name="compaction-crash")
    rnd = random.Random(0xC0FFEE)
    seed = rnd.randrange(1 << 30)
    topic = helpers.unique_topic("compact-crash")
    create_topic(b.bootstrap, topic, 1, config={
        "cleanup.policy": "compact", "segment.bytes": str(CRASH_SEGMENT_BYTES),
        "min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": "100"})
    keys = [b"ck-%04d" % k for k in range(CRASH_KEYS)]
    noise = filler_value(rnd, 8192)
    records = []
    for i in range(CRASH_RECORDS):
        k = rnd.randrange(CRASH_KEYS) if i < CRASH_RECORDS - CRASH_KEYS else i % CRASH_KEYS
        start = rnd.randrange(len(noise) - 32)
        # (compressible, so that librdkafka compresses even a one-record batch)
        records.append((keys[k], b"crash|k%04d|i%07d|" % (k, i) + noise[start:start + 32] + b"crash " * 16))
    deleted = sorted(rnd.sample(keys, CRASH_DELETED))
    records += [(k, None) for k in deleted]
    offs = produce_records(b.bootstrap, topic, records, "lz4", **{"batch.num.messages": 40})
    # Incompressible filler, one batch each and more than half a segment: the
    # tombstones end up outside the active segment.
    filler = [(b"filler", filler_value(rnd, CRASH_SEGMENT_BYTES * 6 // 10)) for _ in range(3)]
    offs += produce_each(b.bootstrap, topic, filler, "lz4")
    records += filler
    by_offset = dict(zip(offs, records))
    end = max(offs) + 1
    latest = {}
    for o in sorted(by_offset):
        latest[by_offset[o][0]] = o
    pdir = partition_dir(b, topic)
    b.stop()
    n_segments = len(log_files(pdir))
    bytes_before = log_bytes(pdir)
    assert n_segments >= 100, "only %d segments to clean" % n_segments

    # Crash loop: start with a busy cleaner, kill -9 after a random short time.
    b.overrides["log.cleaner.backoff.ms"] = 20
    crash_rnd = random.Random(seed)
    cycles = []
    for n in range(CRASH_CYCLES):
        b.start()
        delay = crash_rnd.uniform(0.05, 0.6)
        time.sleep(delay)
        b.kill9()
        cycles.append((round(delay, 3), log_bytes(pdir), len(leftover_files(pdir))))

    # A normal start; wait until the cleaner is done (every key once, deleted keys gone).
    b.start()
    live = set(keys) - set(deleted)

    def compacted():
        segs = read_segments(pdir)
        if len(segs) < 2:
            return False
        counts = key_counts(segs[:-1])
        if any(c > 1 for c in counts.values()):
            return False
        return not any(k in counts for k in deleted)

    def verify(label):
        ok, waited = wait_until(compacted, 40)
        segs = stable_segments(pdir)
        assert ok, ("%s: log not compacted after %.0f s (crash cycles %r): %d segments, %d .log bytes, "
                    "keys more than once: %d" % (label, waited, cycles, len(segs), log_bytes(pdir),
                                                 sum(1 for c in key_counts(segs[:-1]).values() if c > 1)))
        low, high = high_watermark(b.bootstrap, topic)
        assert (low, high) == (0, end), "%s: watermarks %r, expected (0, %d)" % (label, (low, high), end)
        got = consume_all(b.bootstrap, topic, high)
        check_offsets_increasing(got, label)
        assert got[-1][0] == end - 1, "%s: last offset %d, end %d" % (label, got[-1][0], end)
        per_key = {}
        for off, k, v in got:
            assert by_offset.get(off) == (k, v), "%s: offset %d holds %r=%r, produced %r" % (
                label, off, k, v, by_offset.get(off))
            per_key.setdefault(k, []).append(off)
        lost = sorted(k for k in live if k not in per_key)
        assert not lost, "%s: %d keys lost, e.g. %r" % (label, len(lost), lost[:10])
        wrong = {k: per_key[k] for k in live if per_key[k] != [latest[k]]}
        assert not wrong, "%s: keys not at exactly their latest offset: %r" % (label, dict(list(wrong.items())[:5]))
        back = sorted(k for k in deleted if k in per_key)
        assert not back, "%s: deleted keys came back: %r" % (label, {k: per_key[k] for k in back[:5]})
        for sg in segs:
            assert sg.trailing == 0 or sg is segs[-1], "%s: %s has %d bytes after its last batch" % (
                label, sg.name, sg.trailing)
            for bt in sg.batches:
                assert bt.crc_ok, "%s: %s: bad CRC in batch %d" % (label, sg.name, bt.base_offset)
                # (librdkafka sends the incompressible filler uncompressed.)
                filler_only = all(r.key == b"filler" for r in helpers.batch_records(bt))
                want = (0, CODEC_IDS["lz4"]) if filler_only else (CODEC_IDS["lz4"],)
                assert bt.attributes & 7 in want, "%s: %s: batch %d codec %d" % (
                    label, sg.name, bt.base_offset, bt.attributes & 7)
        return waited, segs, got

    waited, segs, got = verify("after %d kill -9 cycles" % CRASH_CYCLES)
    final_bytes_after_crashes = log_bytes(pdir)
    interrupted = [c for c in cycles if final_bytes_after_crashes < c[1] < bytes_before]
    assert interrupted or any(c[2] for c in cycles), \
        "no kill landed while the cleaner was working (cycles %r, %d -> %d bytes)" % (
            cycles, bytes_before, final_bytes_after_crashes)

    # A cleaning round on the recovered log: a new wave over the live keys, then filler.
    wave = []
    live_sorted = sorted(live)
    for i in range(4000):
        k = live_sorted[(i * 7) % len(live_sorted)]
        wave.append((k, b"wave2|%s|i%07d|" % (k, i) + noise[i % 4000:i % 4000 + 32] + b"wave " * 20))
    wave_offs = produce_records(b.bootstrap, topic, wave, "lz4", **{"batch.num.messages": 40})
    filler2 = [(b"filler", filler_value(rnd, CRASH_SEGMENT_BYTES * 6 // 10)) for _ in range(3)]
    wave_offs += produce_each(b.bootstrap, topic, filler2, "lz4")
    for o, kv in zip(wave_offs, wave + filler2):
        by_offset[o] = kv
        latest[kv[0]] = o
    end = max(wave_offs) + 1
    waited2, segs, got = verify("after a new wave on the recovered log")

    log = b.log_text()
    assert "panicked" not in log, "broker panicked:\n%s" % b.log_tail()
    recovered = (log.count("leftover temporary file"), log.count("completed interrupted compaction swap"))
    b.stop()
    left = leftover_files(pdir)
    assert not left, "files left after a clean start, a cleaning round and a graceful stop: %r" % left
    after = log_bytes(pdir)
    helpers.summary("compaction crash: %d records/%d keys in %d segments (%d bytes); %d kill -9 cycles "
                    "(delay s, .log bytes, .cleaned/.swap files) %r; compacted %.1fs after the final start to %d "
                    "bytes; +%d records cleaned in %.1fs to %d bytes/%d segments; %d records consumed, all %d live "
                    "keys latest, %d deleted keys gone, no leftovers; broker log: %d leftover .cleaned files "
                    "removed, %d interrupted swaps completed"
                    % (CRASH_RECORDS, CRASH_KEYS, n_segments, bytes_before, CRASH_CYCLES, cycles, waited,
                       final_bytes_after_crashes, len(wave), waited2, after, len(segs), len(got), len(live),
                       len(deleted), recovered[0], recovered[1]))
