"""Idempotent producers: InitProducerId, per-partition sequence checks,
duplicates answered with their original offsets, and producer state that
survives a broker restart. Clients are confluent-kafka (librdkafka) and
kafka-python with `enable.idempotence`, producing through a loopback proxy
that resets every connection at random moments, plus raw requests."""

import time
from collections import defaultdict

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

import helpers
from clients import ck_producer, create_topic
from faultproxy import CuttingProxy
from helpers import Reader, i16, i32, i64, string, summary

API_PRODUCE = 0
API_INIT_PRODUCER_ID = 22
ERR_OUT_OF_ORDER_SEQUENCE_NUMBER = 45
ERR_INVALID_PRODUCER_EPOCH = 47


@pytest.fixture
def proxied_broker(broker_factory):
    """A broker whose advertised address is a connection-cutting proxy in front of it."""
    b = broker_factory(start=False, name="idem-broker")
    # librdkafka re-bootstraps when its only broker drops, which takes about a
    # second; cuts closer together than that would stall it instead of testing it.
    proxy = CuttingProxy(b.port, min_interval=0.7, max_interval=1.5)
    b.overrides["advertised.listeners"] = "PLAINTEXT://127.0.0.1:%d" % proxy.port
    b.start()
    yield b, proxy
    proxy.close()


def read_all(bootstrap, topic, partitions, expected, timeout=60):
    """{partition: [value, ...]} in offset order, read from the beginning."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "idem-reader", "enable.auto.commit": False,
                  "enable.partition.eof": False})
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    out = defaultdict(list)
    n = 0
    deadline = time.time() + timeout
    try:
        while n < expected and time.time() < deadline:
            for m in c.consume(10000, 0.5):
                assert m.error() is None, m.error()
                out[m.partition()].append(m.value())
                n += 1
        # Anything past the expected count would be a duplicate: look once more.
        for m in c.consume(10000, 1.0):
            if m.error() is None:
                out[m.partition()].append(m.value())
    finally:
        c.close()
    return out


def broker_duplicates(b):
    """How many retried batches the broker recognised (its log says so for each)."""
    with open(b.log_path, "rb") as f:
        return f.read().count(b"duplicate batch from an idempotent producer")


def check_exactly_once(label, got, partitions, per_partition):
    """Every partition holds values 0..per_partition-1 exactly once, in order."""
    for p in range(partitions):
        seqs = [int(v.split(b"-")[1]) for v in got.get(p, [])]
        dups = len(seqs) - len(set(seqs))
        missing = sorted(set(range(per_partition)) - set(seqs))
        assert dups == 0, "%s: partition %d has %d duplicates" % (label, p, dups)
        assert not missing, "%s: partition %d is missing %d values, first %r" % (label, p, len(missing),
                                                                                  missing[:5])
        assert seqs == sorted(seqs), "%s: partition %d out of order" % (label, p)


def test_confluent_idempotent_100k_through_connection_cuts(proxied_broker):
    b, proxy = proxied_broker
    bootstrap = "127.0.0.1:%d" % proxy.port
    topic = helpers.unique_topic("idem-ck")
    partitions, per = 3, 33_334
    total = partitions * per
    create_topic(bootstrap, topic, partitions)
    p = ck_producer(bootstrap, **{"enable.idempotence": True, "linger.ms": 5, "batch.num.messages": 2000,
                                  "message.timeout.ms": 120000, "retry.backoff.ms": 20,
                                  "request.timeout.ms": 5000, "socket.timeout.ms": 5000})
    errors, acked = [], [0]

    def cb(err, msg):
        if err is not None:
            errors.append(err)
        else:
            acked[0] += 1

    proxy.start_cutting()
    t0 = time.time()
    for i in range(per):
        for part in range(partitions):
            while True:
                try:
                    p.produce(topic, value=b"v-%d-%s" % (i, b"x" * 50), partition=part, on_delivery=cb)
                    break
                except BufferError:
                    p.poll(0.01)
        if i % 300 == 0:
            p.poll(0)
            time.sleep(0.1)  # spread the stream over ~11 s, so over several cuts
    left = p.flush(120)
    elapsed = time.time() - t0
    proxy.stop_cutting()
    cuts, conns = proxy.cuts + proxy.dropped_responses, proxy.accepted
    got = read_all(b.bootstrap, topic, partitions, total)
    dups = broker_duplicates(b)
    summary("idempotence/confluent: %d records over %d partitions in %.1fs through %d connection cuts (%d "
            "connections); acked %d, errors %d, read %d; retried batches the broker answered as duplicates: %d"
            % (total, partitions, elapsed, cuts, conns, acked[0], len(errors), sum(len(v) for v in got.values()),
               dups))
    assert left == 0 and not errors, "undelivered %d, errors %r" % (left, errors[:3])
    assert cuts >= 3, "the proxy cut only %d times" % cuts
    assert proxy.dropped_responses >= 2 and dups >= 1, "no retried batch reached the broker (%d responses " \
        "dropped)" % proxy.dropped_responses
    check_exactly_once("confluent", got, partitions, per)


def test_kafka_python_idempotent_through_connection_cuts(proxied_broker):
    from kafka import KafkaProducer
    b, proxy = proxied_broker
    bootstrap = "127.0.0.1:%d" % proxy.port
    topic = helpers.unique_topic("idem-kp")
    partitions, per = 2, 10_000
    create_topic(b.bootstrap, topic, partitions)
    # kafka-python's idempotent producer allows one request in flight.
    p = KafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, linger_ms=5, retries=1000,
                      retry_backoff_ms=20, request_timeout_ms=5000, delivery_timeout_ms=120000)
    proxy.start_cutting()
    t0 = time.time()
    futures = []
    for i in range(per):
        for part in range(partitions):
            futures.append(p.send(topic, value=b"v-%d" % i, partition=part))
        if i % 500 == 0:
            time.sleep(0.3)
    p.flush(120)
    errors = [f.exception for f in futures if f.failed()]
    elapsed = time.time() - t0
    proxy.stop_cutting()
    p.close(10)
    got = read_all(b.bootstrap, topic, partitions, per * partitions)
    summary("idempotence/kafka-python: %d records in %.1fs through %d cuts; errors %d; read %d; duplicates "
            "answered by the broker: %d" % (per * partitions, elapsed, proxy.cuts, len(errors),
                                            sum(len(v) for v in got.values()), broker_duplicates(b)))
    assert not errors, errors[:3]
    assert proxy.cuts >= 1
    check_exactly_once("kafka-python", got, partitions, per)


def test_idempotent_producer_across_kill9(broker_factory):
    """A librdkafka idempotent producer keeps producing while the broker is
    killed -9 and restarted: its retries of batches the broker had appended
    are recognised from producer state rebuilt on restart."""
    b = broker_factory(name="idem-kill9")
    topic = helpers.unique_topic("idem-k9")
    create_topic(b.bootstrap, topic, 1)
    p = ck_producer(b.bootstrap, **{"enable.idempotence": True, "linger.ms": 2, "message.timeout.ms": 120000,
                                    "retry.backoff.ms": 50, "reconnect.backoff.max.ms": 200})
    errors = []
    per = 30_000
    killed = False
    for i in range(per):
        while True:
            try:
                p.produce(topic, value=b"v-%d" % i, partition=0,
                          on_delivery=lambda err, msg: err and errors.append(err))
                break
            except BufferError:
                p.poll(0.01)
        if i % 1000 == 0:
            p.poll(0)
        if i == per // 2:
            b.kill9()
            killed = True
            b.start()
    assert p.flush(120) == 0
    got = read_all(b.bootstrap, topic, 1, per)
    summary("idempotence/kill9: %d records, broker killed -9 at %d and restarted; errors %d; read %d; duplicates "
            "answered by the broker: %d" % (per, per // 2, len(errors), len(got[0]), broker_duplicates(b)))
    assert killed and not errors, errors[:3]
    check_exactly_once("kill9", got, 1, per)


def init_producer_id(addr, version=4):
    """InitProducerId v4 (flexible) without a transactional id -> (error, producer id, epoch)."""
    body = helpers.uvarint(0) + i32(60000) + i64(-1) + i16(-1) + helpers.uvarint(0)
    with helpers.connect(addr) as s:
        r = helpers.roundtrip(s, API_INIT_PRODUCER_ID, version, body, flexible_header=True)
    r.tagged_fields()
    r.i32()  # throttle
    return r.i16(), r.i64(), r.i16()


def produce_raw(addr, topic, batch):
    with helpers.connect(addr) as s:
        r = helpers.roundtrip(s, API_PRODUCE, 3, helpers.encode_produce_v3(topic, 0, batch, acks=1))
    return helpers.decode_produce_v3(r)[(topic, 0)]


def test_raw_sequence_rules_and_ids_across_restart(broker_factory):
    b = broker_factory(name="idem-raw")
    topic = helpers.unique_topic("idem-raw")
    create_topic(b.bootstrap, topic, 1)
    err, pid, epoch = init_producer_id(b.addr)
    assert (err, epoch) == (0, 0) and pid >= 0, (err, pid, epoch)
    ids = {pid}
    for _ in range(5):
        ids.add(init_producer_id(b.addr)[1])
    assert len(ids) == 6, "InitProducerId handed out a producer id twice: %r" % sorted(ids)

    def batch(seq, n, ep=0):
        recs = [(None, b"r%d" % (seq + k), ()) for k in range(n)]
        return helpers.build_batch(recs, helpers.now_ms(), producer_id=pid, producer_epoch=ep, base_sequence=seq)

    first = produce_raw(b.addr, topic, batch(0, 3))
    second = produce_raw(b.addr, topic, batch(3, 2))
    retry = produce_raw(b.addr, topic, batch(0, 3))
    gap = produce_raw(b.addr, topic, batch(9, 1))
    bumped = produce_raw(b.addr, topic, batch(0, 1, ep=1))
    stale = produce_raw(b.addr, topic, batch(5, 1, ep=0))
    b.kill9()
    b.start()
    retry_after_kill = produce_raw(b.addr, topic, batch(0, 1, ep=1))
    next_after_kill = produce_raw(b.addr, topic, batch(1, 1, ep=1))
    after = {init_producer_id(b.addr)[1] for _ in range(3)}
    summary("idempotence/raw: first %r second %r retry %r gap %r new epoch %r stale %r; after kill -9: retry %r "
            "next %r; ids before %r after %r" % (first, second, retry, gap, bumped, stale, retry_after_kill,
                                                 next_after_kill, sorted(ids), sorted(after)))
    assert first[:2] == (0, 0) and second[:2] == (0, 3)
    assert retry[:2] == (0, 0), "a retried batch gets its original offset"
    assert gap[0] == ERR_OUT_OF_ORDER_SEQUENCE_NUMBER
    assert bumped[:2] == (0, 5)
    assert stale[0] == ERR_INVALID_PRODUCER_EPOCH
    assert retry_after_kill[:2] == (0, 5), "duplicate detected from state rebuilt after kill -9"
    assert next_after_kill[:2] == (0, 6)
    assert not after & ids, "ids reused after restart: %r" % sorted(after & ids)
