"""Topic configs that change what the broker does on produce: compression.type
(re-compress when the producer's codec differs, keep the bytes otherwise) and
min.insync.replicas (acks=all needs that many in-sync replicas; one node has
one). Plus ephemeral mode, which keeps nothing after exit."""

import os
import signal
import subprocess
import time

from confluent_kafka import KafkaError

import clients
import helpers
from helpers import summary

CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
TOPIC_CODEC = {"uncompressed": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def stored_batches(broker, topic):
    s = helpers.connect(broker.addr)
    try:
        part = helpers.fetch_v4(s, topic, 0, 0)
    finally:
        s.close()
    assert part.error_code == 0, part
    return helpers.parse_batches(part.records)


def test_compression_type_recompresses_only_when_the_codec_differs(broker):
    seen = []
    for topic_codec in ["zstd", "uncompressed", "producer", "lz4"]:
        for producer_codec in ["none", "lz4", "gzip"]:
            topic = helpers.unique_topic("ct-%s-%s" % (topic_codec, producer_codec))
            clients.create_topic(broker.bootstrap, topic, partitions=1, config={"compression.type": topic_codec})
            msgs = helpers.make_messages(400, partitions=1, tag=topic)
            delivered = clients.produce_confluent(broker.bootstrap, topic, msgs, codec=producer_codec)
            batches = stored_batches(broker, topic)
            assert batches and all(b.crc_ok for b in batches), "CRC must be valid after re-compression"
            want = CODEC_IDS[producer_codec] if topic_codec == "producer" else TOPIC_CODEC[topic_codec]
            codecs = {b.attributes & 7 for b in batches}
            assert codecs == {want}, "topic %s, producer %s: stored codecs %s, want %d" % (
                topic_codec, producer_codec, codecs, want)
            # The records themselves are unchanged, whoever compressed them.
            got = clients.consume_confluent(broker.bootstrap, topic, 1, len(msgs))
            helpers.verify_consumed(msgs, delivered, got, topic)
            seen.append("%s<-%s:%d" % (topic_codec, producer_codec, want))
    summary("compression.type: stored codec ids %s (400 records each, read back intact)" % ", ".join(seen))


def test_min_insync_replicas_refuses_acks_all_but_not_acks_1(broker):
    topic = helpers.unique_topic("min-isr")
    clients.create_topic(broker.bootstrap, topic, partitions=1, config={"min.insync.replicas": "2"})
    results = {}
    for acks in ["all", "1"]:
        p = clients.ck_producer(broker.bootstrap, acks=acks, **{"message.timeout.ms": 3000, "retries": 0})
        errs = []
        p.produce(topic, value=b"v", on_delivery=lambda err, msg: errs.append(err))
        p.flush(15)
        assert len(errs) == 1
        results[acks] = errs[0]
    assert results["all"] is not None and results["all"].code() == KafkaError.NOT_ENOUGH_REPLICAS, results
    assert results["1"] is None, results
    # Lowered at runtime (IncrementalAlterConfigs), acks=all goes through.
    from confluent_kafka.admin import (AlterConfigOpType, ConfigEntry, ConfigResource,
                                       ResourceType)
    res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("min.insync.replicas", "1", incremental_operation=AlterConfigOpType.SET)])
    admin = clients.ck_admin(broker.bootstrap)
    for f in admin.incremental_alter_configs([res]).values():
        f.result(10)
    p = clients.ck_producer(broker.bootstrap, acks="all", **{"message.timeout.ms": 3000, "retries": 0})
    errs = []
    p.produce(topic, value=b"v", on_delivery=lambda err, msg: errs.append(err))
    p.flush(15)
    assert errs == [None], errs
    summary("min.insync.replicas=2 on one node: acks=all -> %s; acks=1 -> delivered; after altering it "
            "to 1, acks=all delivered" % results["all"].name())


def test_ephemeral_mode_keeps_nothing_after_exit(tmp_path):
    parent = tmp_path / "data"
    port = helpers.free_port()
    b = os.environ.get("GREGOR_BIN", helpers.DEFAULT_BIN)
    cmd = [b, "--ephemeral", "--data-dir", str(parent),
           "--override", "listeners=PLAINTEXT://127.0.0.1:%d" % port,
           "--override", "advertised.listeners=PLAINTEXT://127.0.0.1:%d" % port]
    bootstrap = "127.0.0.1:%d" % port

    def start():
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 20
        while True:
            try:
                if helpers.api_versions_addr(("127.0.0.1", port), 0, timeout=1.0).error_code == 0:
                    return proc
            except (OSError, ValueError, ConnectionError, AssertionError):
                pass
            assert proc.poll() is None and time.time() < deadline, "ephemeral broker did not start"
            time.sleep(0.05)

    proc = start()
    topic = helpers.unique_topic("ephemeral")
    msgs = helpers.make_messages(50, partitions=1, tag=topic)
    clients.produce_confluent(bootstrap, topic, msgs)
    during = [p.name for p in parent.iterdir()]
    assert len(during) == 1 and during[0].startswith(".ephemeral-"), during
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert list(parent.iterdir()) == [], "ephemeral data left behind: %r" % list(parent.iterdir())

    # A SIGKILLed run leaves its directory; the next start removes it and
    # starts empty.
    proc = start()
    clients.produce_confluent(bootstrap, topic, msgs)
    proc.kill()
    proc.wait(10)
    assert len(list(parent.iterdir())) == 1
    proc = start()
    try:
        assert clients.topic_partitions(bootstrap, topic) is None, "a new ephemeral run must start empty"
        assert len(list(parent.iterdir())) == 1, list(parent.iterdir())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    assert list(parent.iterdir()) == []
    summary("ephemeral: data dir removed at SIGTERM; a SIGKILLed run's dir removed by the next start, "
            "which starts without the old topic")
