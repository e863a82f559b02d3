"""Data safety (issue 13): files whose loss or damage could make gregor delete
or disbelieve acknowledged data, storage errors, descriptor budgets, bounded
auto-creation and internal topics closed to clients. Each test reproduces a
reported loss and checks that every acknowledged record is still there."""

import os
import shutil
import subprocess
import time
import uuid

import pytest
from confluent_kafka import KafkaError, TopicCollection, TopicPartition
from confluent_kafka.admin import NewTopic

import helpers
from clients import ck_admin, ck_consumer, ck_producer, consume_confluent, create_topic

RECORDS = 6000
INVALID_TOPIC_EXCEPTION = 17
LEADER_NOT_AVAILABLE = 5
POLICY_VIOLATION = 44


def produce_acked(bootstrap, topic, n=RECORDS, partition=0):
    p = ck_producer(bootstrap)
    acked = []
    for i in range(n):
        p.produce(topic, value=b"safe-%06d" % i, partition=partition,
                  on_delivery=lambda err, msg: acked.append(msg.offset()) if err is None else None)
        if i % 1000 == 0:
            p.poll(0)
    assert p.flush(60) == 0
    assert len(acked) == n, "%d of %d acknowledged" % (len(acked), n)
    return acked


def end_offset(bootstrap, topic, partition=0):
    c = ck_consumer(bootstrap)
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10, cached=False)[1]
    finally:
        c.close()


def topic_id(bootstrap, topic):
    admin = ck_admin(bootstrap)
    desc = admin.describe_topics(TopicCollection([topic]), request_timeout=10)[topic].result(15)
    return desc.topic_id


def uuid_of(kafka_uuid):
    """The canonical text form gregor writes into partition.metadata."""
    return str(uuid.UUID(bytes=bytes(kafka_uuid.get_most_significant_bits().to_bytes(8, "big", signed=True)
                                     + kafka_uuid.get_least_significant_bits().to_bytes(8, "big", signed=True))))


def expect_start_failure(b, *needles, timeout=30.0):
    with pytest.raises(helpers.BrokerDied) as info:
        b.start(timeout=timeout)
    assert b.proc.returncode != 0
    text = open(b.log_path, errors="replace").read()
    for needle in needles:
        assert needle in text, "%r not in the log; tail:\n%s" % (needle, str(info.value)[-3000:])
    return text


def count_records(bootstrap, topic, expected):
    got = consume_confluent(bootstrap, topic, 1, expected)
    values = [v for (_, _, v, _, _) in got[0]]
    assert values == [b"safe-%06d" % i for i in range(expected)]


@pytest.mark.parametrize("damage", ["empty", "missing", "garbage"])
def test_damaged_partition_marker_refuses_start_and_keeps_every_record(broker_factory, damage):
    """Before: an empty partition.metadata (what a power cut leaves) made the
    start delete the partition, fsynced segments included (6,000 records)."""
    b = broker_factory(name="marker-" + damage)
    topic = helpers.unique_topic("marker")
    create_topic(b.bootstrap, topic, 1)
    produce_acked(b.bootstrap, topic)
    tid = uuid_of(topic_id(b.bootstrap, topic))
    b.stop()
    marker = os.path.join(b.data_dir, topic + "-0", "partition.metadata")
    good = open(marker).read()
    assert tid in good
    if damage == "empty":
        open(marker, "w").close()
    elif damage == "missing":
        os.remove(marker)
    else:
        open(marker, "wb").write(b"\x00\x13garbage")
    expect_start_failure(b, marker, "refusing to open or delete")
    seg = os.path.join(b.data_dir, topic + "-0", "00000000000000000000.log")
    assert os.path.getsize(seg) > RECORDS * 10, "segment data must be untouched"
    # The error says what to write; doing so brings every record back.
    open(marker, "w").write("version: 0\ntopic_id: %s\n" % tid)
    b.start()
    assert end_offset(b.bootstrap, topic) == RECORDS
    count_records(b.bootstrap, topic, RECORDS)


def test_directory_of_an_unknown_topic_id_is_moved_aside_not_deleted(broker_factory):
    b = broker_factory(name="stray")
    topic = helpers.unique_topic("stray")
    create_topic(b.bootstrap, topic, 1)
    produce_acked(b.bootstrap, topic, 500)
    b.stop()
    part = os.path.join(b.data_dir, topic + "-0")
    size = os.path.getsize(os.path.join(part, "00000000000000000000.log"))
    open(os.path.join(part, "partition.metadata"), "w").write("version: 0\ntopic_id: %s\n" % uuid.uuid4())
    b.start()
    strays = [d for d in os.listdir(b.data_dir) if d.startswith(topic + "-0.") and d.endswith("-stray")]
    assert len(strays) == 1, os.listdir(b.data_dir)
    assert os.path.getsize(os.path.join(b.data_dir, strays[0], "00000000000000000000.log")) == size
    log = open(b.log_path, errors="replace").read()
    assert "ERROR" in log and "moved aside, not deleted" in log
    # The topic the metadata knows gets a fresh directory of its own.
    assert end_offset(b.bootstrap, topic) == 0


def test_missing_metadata_log_refuses_start(broker_factory):
    """Without the metadata log every partition would look like a deleted
    topic's; the start must stop instead of sweeping them away."""
    b = broker_factory(name="no-metadata")
    topic = helpers.unique_topic("nometa")
    create_topic(b.bootstrap, topic, 1)
    produce_acked(b.bootstrap, topic, 1000)
    b.stop()
    meta = os.path.join(b.data_dir, "__cluster_metadata")
    os.rename(meta, meta + ".away")
    expect_start_failure(b, "no metadata log", "refusing to start")
    assert os.path.exists(os.path.join(b.data_dir, topic + "-0", "00000000000000000000.log"))
    os.rename(meta + ".away", meta)
    b.start()
    assert end_offset(b.bootstrap, topic) == 1000


def test_flipped_byte_mid_metadata_log_is_refused_not_truncated(broker_factory):
    """Before: one corrupt byte in the middle of raft.log was taken for a torn
    tail, the rest dropped, and 51 partition directories swept as deleted."""
    b = broker_factory(name="raft-flip")
    topics = [helpers.unique_topic("flip%d" % i) for i in range(6)]
    for t in topics:
        create_topic(b.bootstrap, t, 1)
    produce_acked(b.bootstrap, topics[0], 2000)
    b.stop()
    path = os.path.join(b.data_dir, "__cluster_metadata", "raft.log")
    data = bytearray(open(path, "rb").read())
    original = bytes(data)
    at = len(data) // 3
    data[at] ^= 0x20
    open(path, "wb").write(bytes(data))
    expect_start_failure(b, "not a torn tail")
    for t in topics:
        assert os.path.isdir(os.path.join(b.data_dir, t + "-0")), "partition directory of %s removed" % t
    assert open(path, "rb").read() == bytes(data), "the damaged log must be left as found"
    open(path, "wb").write(original)
    b.start()
    assert end_offset(b.bootstrap, topics[0]) == 2000
    listed = ck_admin(b.bootstrap).list_topics(timeout=10).topics
    assert all(t in listed for t in topics)


class SmallDisk:
    """A tmpfs of `size_mb` as a broker's data dir, filled on demand."""

    def __init__(self, path, size_mb):
        self.path = path
        os.makedirs(path, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm" % size_mb, "tmpfs", path], check=True)
        self.filler = os.path.join(path, "filler")

    def fill(self):
        # dd until ENOSPC: fallocate on tmpfs may leave a few pages free.
        subprocess.run(["dd", "if=/dev/zero", "of=" + self.filler, "bs=64k"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def free(self):
        if os.path.exists(self.filler):
            os.remove(self.filler)

    def close(self):
        subprocess.run(["umount", "-l", self.path], check=False)


@pytest.fixture
def small_disk(tmp_path):
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a tmpfs for a full-disk test")
    disk = SmallDisk(str(tmp_path / "disk"), 64)
    yield disk
    disk.close()


def create_many(bootstrap, prefix, count=40):
    """Fires `count` CreateTopics at once; returns (admin, {topic: future}).
    Each topic is one metadata record: on a full disk the first few fit in
    the slack of raft.log's last page, the next ones do not."""
    admin = ck_admin(bootstrap)
    names = [helpers.unique_topic("%s%02d" % (prefix, i)) for i in range(count)]
    futures = {}
    for name in names:
        futures.update(admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)],
                                           operation_timeout=60, request_timeout=120))
    return admin, futures


def wait_led(bootstrap, topic, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        md = ck_admin(bootstrap).list_topics(topic, timeout=10).topics.get(topic)
        if md is not None and md.error is None and md.partitions and md.partitions[0].leader >= 0:
            return
        time.sleep(0.5)
    raise AssertionError("%s not led within %ds" % (topic, timeout))


def test_full_disk_metadata_write_is_retried_until_space_returns(broker_factory, small_disk):
    """Before: one failed Raft write ended openraft's core and every later
    CreateTopics failed until a restart, while the broker looked healthy."""
    b = broker_factory(name="enospc-retry", start=False)
    b.data_dir = os.path.join(small_disk.path, "data")
    b.start()
    before = helpers.unique_topic("before-full")
    create_topic(b.bootstrap, before, 1)
    produce_acked(b.bootstrap, before, 1000)
    small_disk.fill()
    _admin, futures = create_many(b.bootstrap, "while-full")
    deadline = time.time() + 20
    while "metadata write failed; retrying" not in open(b.log_path, errors="replace").read():
        assert time.time() < deadline, "no metadata write hit the full disk"
        time.sleep(0.2)
    assert b.alive()
    small_disk.free()
    for topic, future in futures.items():
        exc = future.exception(90)
        # A metadata write that went through while the partition had no
        # space to open is answered KAFKA_STORAGE_ERROR and opened later.
        assert exc is None or exc.args[0].code() in (KafkaError.KAFKA_STORAGE_ERROR,
                                                     KafkaError.TOPIC_ALREADY_EXISTS), (topic, exc)
        wait_led(b.bootstrap, topic)
    last = sorted(futures)[-1]
    produce_acked(b.bootstrap, last, 100)
    assert end_offset(b.bootstrap, before) == 1000
    b.stop()


def test_metadata_storage_failure_stops_the_broker_loudly(broker_factory, small_disk):
    b = broker_factory(name="enospc-fatal", start=False)
    b.data_dir = os.path.join(small_disk.path, "data")
    b.start()
    before = helpers.unique_topic("before-fatal")
    create_topic(b.bootstrap, before, 1)
    produce_acked(b.bootstrap, before, 1000)
    small_disk.fill()
    _admin, _futures = create_many(b.bootstrap, "never")
    # 30 s of retries, then the Raft core stops and the broker with it.
    code = b.proc.wait(90)
    assert code == 1, code
    log = open(b.log_path, errors="replace").read()
    assert "cluster metadata storage failed" in log
    small_disk.free()
    b.start()
    assert end_offset(b.bootstrap, before) == 1000
    count_records(b.bootstrap, before, 1000)


def test_create_topics_beyond_the_descriptor_budget_is_refused(broker_factory):
    """Before: 10,000 partitions under a 20,000-fd limit answered success,
    opened 6,608, and the broker would not restart."""
    if shutil.which("prlimit") is None:
        pytest.skip("prlimit (util-linux) not installed")
    b = broker_factory(name="fd-budget", wrapper=["prlimit", "--nofile=2048:2048", "--"])
    admin = ck_admin(b.bootstrap)
    big = helpers.unique_topic("too-many")
    fs = admin.create_topics([NewTopic(big, num_partitions=1000, replication_factor=1)], request_timeout=30)
    with pytest.raises(Exception) as info:
        fs[big].result(30)
    err = info.value.args[0]
    assert err.code() == POLICY_VIOLATION, err
    assert "ulimit" in err.str() and "file descriptors" in err.str(), err.str()
    assert big not in admin.list_topics(timeout=10).topics
    ok = helpers.unique_topic("fits")
    create_topic(b.bootstrap, ok, 20)
    produce_acked(b.bootstrap, ok, 100)
    b.restart()
    assert end_offset(b.bootstrap, ok) == 100


def test_one_metadata_request_auto_creates_a_bounded_number_of_topics(broker):
    names = ["auto-bound-%s-%03d" % (uuid.uuid4().hex[:6], i) for i in range(150)]
    first = helpers.metadata_v4(broker.addr, names, True)
    created = [n for n in names if first.topics[n].error_code == 0]
    deferred = [n for n in names if first.topics[n].error_code == LEADER_NOT_AVAILABLE]
    assert 0 < len(created) <= 64, len(created)
    assert len(created) + len(deferred) == len(names), {first.topics[n].error_code for n in names}
    # A client asking again gets the next ones: nothing is lost, only spread.
    for _ in range(5):
        again = helpers.metadata_v4(broker.addr, names, True)
        if all(again.topics[n].error_code == 0 for n in names):
            break
    assert all(again.topics[n].error_code == 0 for n in names)


@pytest.mark.parametrize("internal", ["__consumer_offsets", "__transaction_state"])
def test_clients_cannot_append_to_internal_topics(group_broker, internal):
    """Before: a forged commit record produced by a plain client became a
    group's committed offset after restart (5 -> 999,999)."""
    bs = group_broker.bootstrap
    topic = helpers.unique_topic("internal-guard")
    create_topic(bs, topic, 1)
    produce_acked(bs, topic, 10)
    c = ck_consumer(bs, **{"group.id": "guard-" + uuid.uuid4().hex[:6]})
    c.assign([TopicPartition(topic, 0, 5)])
    c.commit(offsets=[TopicPartition(topic, 0, 5)], asynchronous=False)
    c.close()
    if internal == "__transaction_state":
        p = ck_producer(bs, **{"transactional.id": "guard-" + uuid.uuid4().hex[:6]})
        p.init_transactions(30)
    batch = helpers.build_batch([(b"forged-key", b"forged-value", ())], helpers.now_ms())
    s = helpers.connect(broker_addr(bs))
    try:
        r = helpers.roundtrip(s, 0, 3, helpers.encode_produce_v3(internal, 0, batch, 1))
        results = helpers.decode_produce_v3(r)
    finally:
        s.close()
    err, base, _ = results[(internal, 0)]
    assert err == INVALID_TOPIC_EXCEPTION, results


def broker_addr(bootstrap):
    host, port = bootstrap.rsplit(":", 1)
    return (host, int(port))
