"""Thin produce/consume wrappers over the three Python Kafka clients.

Each produce_* returns {message index: (partition, offset)} from the
client's own acknowledgements; each consume_* returns
{partition: [(offset, key, value, headers, timestamp), ...]} read from the
beginning, so helpers.verify_consumed can compare them with what was sent.
"""

import asyncio
import functools
import time
import uuid

from confluent_kafka import (OFFSET_BEGINNING, TIMESTAMP_CREATE_TIME, Consumer, KafkaError, KafkaException,
                             Producer, TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


# ---------------------------------------------------------------------------
# confluent-kafka (librdkafka)
# ---------------------------------------------------------------------------

def ck_admin(bootstrap):
    return AdminClient({"bootstrap.servers": bootstrap})


def topic_partitions(bootstrap, topic, timeout=10.0):
    """Partition count of topic per metadata of *all* topics (never auto-creates); None if absent."""
    md = ck_admin(bootstrap).list_topics(timeout=timeout)
    t = md.topics.get(topic)
    if t is None or t.error is not None:
        return None
    return len(t.partitions)


def create_topic(bootstrap, topic, partitions=1, config=None, timeout=30.0):
    admin = ck_admin(bootstrap)
    fs = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1,
                                       config=dict(config or {}))], operation_timeout=20, request_timeout=30)
    fs[topic].result(timeout)
    # Wait until metadata shows every partition with a leader.
    deadline = time.time() + timeout
    while time.time() < deadline:
        md = admin.list_topics(timeout=10)
        t = md.topics.get(topic)
        if t is not None and t.error is None and len(t.partitions) == partitions and all(
                p.leader >= 0 for p in t.partitions.values()):
            return
        time.sleep(0.1)
    raise AssertionError("topic %s not visible with %d led partitions after CreateTopics" % (topic, partitions))


def ck_producer(bootstrap, **extra):
    conf = {
        "bootstrap.servers": bootstrap,
        "linger.ms": 5,
        "batch.num.messages": 10000,
        "queue.buffering.max.messages": 1000000,
        "queue.buffering.max.kbytes": 1048576,
        "acks": "all",
        "message.timeout.ms": 60000,
    }
    conf.update(extra)
    return Producer(conf)


def produce_confluent(bootstrap, topic, msgs, codec="none", timeout=120.0, **extra):
    conf = {"compression.type": codec}
    conf.update(extra)
    p = ck_producer(bootstrap, **conf)
    delivered = {}
    errors = []

    def cb(i, err, msg):
        if err is not None:
            errors.append((i, err))
        else:
            delivered[i] = (msg.partition(), msg.offset())

    for n, m in enumerate(msgs):
        while True:
            try:
                p.produce(topic, value=m.value, key=m.key, partition=m.partition, timestamp=m.timestamp,
                          headers=m.headers, on_delivery=functools.partial(cb, m.i))
                break
            except BufferError:
                p.poll(0.05)
        if n % 1000 == 0:
            p.poll(0)
    left = p.flush(timeout)
    assert left == 0, "confluent producer: %d messages still queued after %.0fs" % (left, timeout)
    assert not errors, "confluent producer: %d delivery errors, first: %r" % (len(errors), errors[:3])
    assert len(delivered) == len(msgs), "confluent producer: %d acks for %d messages" % (len(delivered), len(msgs))
    return delivered


def ck_consumer(bootstrap, **extra):
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": "pt-" + uuid.uuid4().hex[:8],
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
    }
    conf.update(extra)
    return Consumer(conf)


def consume_confluent(bootstrap, topic, partitions, expected, timeout=45.0, start=OFFSET_BEGINNING, **extra):
    c = ck_consumer(bootstrap, **extra)
    try:
        c.assign([TopicPartition(topic, p, start) for p in range(partitions)])
        out = {p: [] for p in range(partitions)}
        count = 0
        eof = set()
        deadline = time.time() + timeout
        while count < expected or len(eof) < partitions:
            if time.time() > deadline:
                raise AssertionError("confluent consumer: got %d/%d records from %s within %.0fs (eof on %s)"
                                     % (count, expected, topic, timeout, sorted(eof)))
            for msg in c.consume(num_messages=5000, timeout=0.5):
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        eof.add(msg.partition())
                        continue
                    raise KafkaException(err)
                eof.discard(msg.partition())
                ts_type, ts = msg.timestamp()
                assert ts_type == TIMESTAMP_CREATE_TIME, "p%d@%d timestamp type %d" % (
                    msg.partition(), msg.offset(), ts_type)
                out[msg.partition()].append((msg.offset(), msg.key(), msg.value(), msg.headers(), ts))
                count += 1
        return out
    finally:
        c.close()


# ---------------------------------------------------------------------------
# kafka-python
# ---------------------------------------------------------------------------

def produce_kafka_python(bootstrap, topic, msgs, codec="none", timeout=120.0, **extra):
    from kafka import KafkaProducer
    conf = dict(bootstrap_servers=bootstrap, compression_type=None if codec == "none" else codec,
                linger_ms=5, batch_size=256 * 1024, acks="all", request_timeout_ms=30000)
    conf.update(extra)
    p = KafkaProducer(**conf)
    try:
        futs = []
        for m in msgs:
            futs.append((m.i, p.send(topic, key=m.key, value=m.value, headers=m.headers, partition=m.partition,
                                     timestamp_ms=m.timestamp)))
        p.flush(timeout)
        delivered = {}
        for i, f in futs:
            md = f.get(timeout=30)
            delivered[i] = (md.partition, md.offset)
        return delivered
    finally:
        p.close(timeout=10)


def consume_kafka_python(bootstrap, topic, partitions, expected, timeout=30.0, **extra):
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP
    conf = dict(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                auto_offset_reset="earliest")
    conf.update(extra)
    c = KafkaConsumer(**conf)
    try:
        tps = [KTP(topic, p) for p in range(partitions)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        out = {p: [] for p in range(partitions)}
        count = 0
        deadline = time.time() + timeout
        while count < expected:
            if time.time() > deadline:
                raise AssertionError("kafka-python consumer: got %d/%d records from %s within %.0fs"
                                     % (count, expected, topic, timeout))
            polled = c.poll(timeout_ms=500, max_records=5000)
            for tp, recs in polled.items():
                for r in recs:
                    assert r.timestamp_type == 0, "p%d@%d timestamp type %d" % (tp.partition, r.offset,
                                                                                r.timestamp_type)
                    out[tp.partition].append((r.offset, r.key, r.value, r.headers, r.timestamp))
                    count += 1
        ends = c.end_offsets(tps)
        for tp in tps:
            assert ends[tp] == len(out[tp.partition]), "kafka-python: end offset of p%d is %d but %d consumed" % (
                tp.partition, ends[tp], len(out[tp.partition]))
        return out
    finally:
        c.close()


# ---------------------------------------------------------------------------
# aiokafka
# ---------------------------------------------------------------------------

async def _aio_produce(bootstrap, topic, msgs, codec, extra):
    from aiokafka import AIOKafkaProducer
    conf = dict(bootstrap_servers=bootstrap, compression_type=None if codec == "none" else codec,
                linger_ms=5, max_batch_size=256 * 1024, acks="all", request_timeout_ms=30000)
    conf.update(extra)
    p = AIOKafkaProducer(**conf)
    await p.start()
    try:
        futs = []
        for m in msgs:
            fut = await p.send(topic, value=m.value, key=m.key, partition=m.partition, timestamp_ms=m.timestamp,
                               headers=m.headers)
            futs.append((m.i, fut))
        await p.flush()
        delivered = {}
        for i, fut in futs:
            md = await fut
            delivered[i] = (md.partition, md.offset)
        return delivered
    finally:
        await p.stop()


def produce_aiokafka(bootstrap, topic, msgs, codec="none", timeout=120.0, **extra):
    try:
        return asyncio.run(asyncio.wait_for(_aio_produce(bootstrap, topic, msgs, codec, extra), timeout))
    except asyncio.TimeoutError:
        raise AssertionError("aiokafka producer did not finish %d messages to %s within %.0fs"
                             % (len(msgs), topic, timeout)) from None


async def _aio_consume(bootstrap, topic, partitions, expected, timeout, extra, progress):
    from aiokafka import AIOKafkaConsumer
    from aiokafka import TopicPartition as ATP
    conf = dict(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                auto_offset_reset="earliest")
    conf.update(extra)
    c = AIOKafkaConsumer(**conf)
    await c.start()
    try:
        tps = [ATP(topic, p) for p in range(partitions)]
        c.assign(tps)
        progress["stage"] = "seek_to_beginning (ListOffsets)"
        await c.seek_to_beginning(*tps)
        progress["stage"] = "fetching"
        out = {p: [] for p in range(partitions)}
        count = 0
        deadline = time.time() + timeout
        while count < expected:
            if time.time() > deadline:
                raise AssertionError("aiokafka consumer: got %d/%d records from %s within %.0fs"
                                     % (count, expected, topic, timeout))
            got = await c.getmany(timeout_ms=500, max_records=5000)
            for tp, recs in got.items():
                for r in recs:
                    assert r.timestamp_type == 0, "p%d@%d timestamp type %d" % (tp.partition, r.offset,
                                                                                r.timestamp_type)
                    out[tp.partition].append((r.offset, r.key, r.value, list(r.headers or ()), r.timestamp))
                    count += 1
            progress["count"] = count
        progress["stage"] = "end_offsets (ListOffsets)"
        ends = await c.end_offsets(tps)
        for tp in tps:
            assert ends[tp] == len(out[tp.partition]), "aiokafka: end offset of p%d is %d but %d consumed" % (
                tp.partition, ends[tp], len(out[tp.partition]))
        return out
    finally:
        await c.stop()


def consume_aiokafka(bootstrap, topic, partitions, expected, timeout=30.0, **extra):
    progress = {"stage": "start (bootstrap/metadata)", "count": 0}
    try:
        return asyncio.run(asyncio.wait_for(
            _aio_consume(bootstrap, topic, partitions, expected, timeout, extra, progress), timeout + 10))
    except asyncio.TimeoutError:
        raise AssertionError("aiokafka consumer stuck in %s after %.0fs with %d/%d records from %s"
                             % (progress["stage"], timeout + 10, progress["count"], expected, topic)) from None


CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def stored_codecs(addr, topic, partition=0):
    """Compression id of each batch the broker serves from the start of a partition (raw Fetch v4), in order."""
    return [codec for codec, _ in stored_codec_records(addr, topic, partition)]


def stored_codec_records(addr, topic, partition=0):
    """(compression id, record count) of each batch served from the start of a partition, in order."""
    import helpers
    s = helpers.connect(addr)
    try:
        part = helpers.fetch_v4(s, topic, partition, 0, max_bytes=4 << 20, partition_max_bytes=4 << 20)
    finally:
        s.close()
    assert part.error_code == 0, "raw fetch of %s-%d: error %d" % (topic, partition, part.error_code)
    return [(b.attributes & 7, b.records_count) for b in helpers.parse_batches(part.records or b"")]


PRODUCERS = {
    "confluent": produce_confluent,
    "kafka-python": produce_kafka_python,
    "aiokafka": produce_aiokafka,
}

CONSUMERS = {
    "confluent": consume_confluent,
    "kafka-python": consume_kafka_python,
    "aiokafka": consume_aiokafka,
}
