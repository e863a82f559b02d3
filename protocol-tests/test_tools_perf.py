"""Kafka's load and test tools built into the gregor binary, each run under its
Kafka script name (a symlink, as in the image): kafka-producer-perf-test.sh,
kafka-consumer-perf-test.sh, kafka-verifiable-producer.sh,
kafka-verifiable-consumer.sh and kafka-dump-log.sh, checked against what the
real broker stored."""

import glob
import json
import os
import re
import subprocess
import time

import helpers
from helpers import summary

SUMMARY_RE = re.compile(
    r"^(\d+) records sent, [\d.]+ records/sec \([\d.]+ MB/sec\), [\d.]+ ms avg latency, "
    r"[\d.]+ ms max latency, \d+ ms 50th, \d+ ms 95th, \d+ ms 99th, \d+ ms 99\.9th\.$")


def script(tmp_path, name):
    b = os.path.abspath(os.environ.get("GREGOR_BIN", helpers.DEFAULT_BIN))
    link = tmp_path / (name + ".sh")
    if not link.exists():
        os.symlink(b, link)
    return str(link)


def run(tmp_path, name, *args, timeout=30):
    return subprocess.run([script(tmp_path, name), *args], capture_output=True, text=True, timeout=timeout)


def create_topic(b, topic, partitions=1):
    from confluent_kafka.admin import AdminClient, NewTopic
    a = AdminClient({"bootstrap.servers": b.bootstrap})
    a.create_topics([NewTopic(topic, partitions, 1)])[topic].result(timeout=10)


def total_records(b, topic, partitions):
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "wm-" + topic})
    try:
        n = 0
        for p in range(partitions):
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            n += hi - lo
        return n
    finally:
        c.close()


def test_producer_perf_counts_and_summary(broker_factory, tmp_path):
    b = broker_factory(name="perf")
    topic = helpers.unique_topic("perf")
    create_topic(b, topic, 3)
    r = run(tmp_path, "kafka-producer-perf-test", "--topic", topic, "--num-records", "20000",
            "--record-size", "100", "--throughput", "-1",
            "--producer-props", "bootstrap.servers=" + b.bootstrap, "acks=all", "linger.ms=5",
            "batch.size=16384", "compression.type=lz4", "max.in.flight.requests.per.connection=5")
    summary("tools/producer-perf-test: rc %d, %r" % (r.returncode, r.stdout.strip().splitlines()[-1:]))
    assert r.returncode == 0, r.stderr
    last = r.stdout.strip().splitlines()[-1]
    m = SUMMARY_RE.match(last)
    assert m and m.group(1) == "20000", last
    assert total_records(b, topic, 3) == 20000


def test_producer_perf_throttle_and_transactions(broker_factory, tmp_path):
    b = broker_factory(name="perf-tx")
    topic = helpers.unique_topic("perf-tx")
    create_topic(b, topic, 1)
    t0 = time.monotonic()
    r = run(tmp_path, "kafka-producer-perf-test", "--topic", topic, "--num-records", "4000",
            "--payload-monotonic", "--throughput", "2000",
            "--producer-props", "bootstrap.servers=" + b.bootstrap, "acks=1")
    took = time.monotonic() - t0
    summary("tools/producer-perf-test --throughput 2000, 4000 records: rc %d, %.2f s" % (r.returncode, took))
    assert r.returncode == 0, r.stderr
    # 4000 records at 2000/s cannot finish in under ~2 s; allow for timer slack.
    assert took >= 1.5
    tx_topic = helpers.unique_topic("perf-txn")
    create_topic(b, tx_topic, 2)
    r = run(tmp_path, "kafka-producer-perf-test", "--topic", tx_topic, "--num-records", "3000",
            "--record-size", "50", "--throughput", "-1", "--transactional-id", "perf-txn-1",
            "--transaction-duration-ms", "100", "--producer-props", "bootstrap.servers=" + b.bootstrap)
    assert r.returncode == 0, r.stderr
    assert SUMMARY_RE.match(r.stdout.strip().splitlines()[-1])
    from confluent_kafka import Consumer
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "rc-" + tx_topic,
                  "isolation.level": "read_committed", "auto.offset.reset": "earliest"})
    c.subscribe([tx_topic])
    seen, deadline = 0, time.monotonic() + 20
    while seen < 3000 and time.monotonic() < deadline:
        for m in c.consume(1000, timeout=1.0):
            if m.error() is None:
                seen += 1
    c.close()
    summary("tools/producer-perf-test --transactional-id: read_committed sees %d of 3000" % seen)
    assert seen == 3000


def test_consumer_perf_reports_messages(broker_factory, tmp_path):
    b = broker_factory(name="cperf")
    topic = helpers.unique_topic("cperf")
    create_topic(b, topic, 2)
    r = run(tmp_path, "kafka-producer-perf-test", "--topic", topic, "--num-records", "5000",
            "--record-size", "10", "--throughput", "-1", "--producer-props", "bootstrap.servers=" + b.bootstrap)
    assert r.returncode == 0, r.stderr
    r = run(tmp_path, "kafka-consumer-perf-test", "--bootstrap-server", b.bootstrap, "--topic", topic,
            "--messages", "5000", "--group", "cperf-g", "--timeout", "5000")
    summary("tools/consumer-perf-test: %r" % r.stdout.strip().splitlines())
    assert r.returncode == 0, r.stderr
    header, line = r.stdout.strip().splitlines()
    assert header == ("start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, "
                      "rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec")
    fields = [f.strip() for f in line.split(",")]
    assert len(fields) == 10 and fields[4] == "5000"
    assert abs(float(fields[2]) - 50000 / 1048576) < 0.001


def test_verifiable_producer_and_consumer(broker_factory, tmp_path):
    b = broker_factory(name="verif")
    topic = helpers.unique_topic("verif")
    create_topic(b, topic, 2)
    r = run(tmp_path, "kafka-verifiable-producer", "--topic", topic, "--bootstrap-server", b.bootstrap,
            "--max-messages", "500", "--repeating-keys", "7", "--value-prefix", "3")
    assert r.returncode == 0, r.stderr
    events = [json.loads(l) for l in r.stdout.splitlines()]
    names = [e["name"] for e in events]
    assert names[0] == "startup_complete" and names[-2:] == ["shutdown_complete", "tool_data"]
    ok = [e for e in events if e["name"] == "producer_send_success"]
    assert len(ok) == 500 and events[-1]["acked"] == 500
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "check-" + topic})
    stored = {}
    c.assign([TopicPartition(topic, p, 0) for p in range(2)])
    deadline = time.monotonic() + 15
    while len(stored) < 500 and time.monotonic() < deadline:
        for m in c.consume(500, timeout=1.0):
            if m.error() is None:
                stored[(m.partition(), m.offset())] = (m.key().decode(), m.value().decode())
    c.close()
    mismatched = [e for e in ok if stored.get((e["partition"], e["offset"])) != (e["key"], e["value"])]
    summary("tools/verifiable-producer: %d acked, %d stored, %d mismatched" % (len(ok), len(stored), len(mismatched)))
    assert not mismatched and len(stored) == 500
    assert sorted(e["value"] for e in ok) == sorted("3.%d" % i for i in range(500))

    r = run(tmp_path, "kafka-verifiable-consumer", "--bootstrap-server", b.bootstrap, "--topic", topic,
            "--group-id", "verif-g", "--max-messages", "500")
    assert r.returncode == 0, r.stderr
    events = [json.loads(l) for l in r.stdout.splitlines()]
    consumed = sum(e["count"] for e in events if e["name"] == "records_consumed")
    commits = [e for e in events if e["name"] == "offsets_committed"]
    summary("tools/verifiable-consumer: %d consumed, %d commits" % (consumed, len(commits)))
    assert consumed == 500 and commits and all(e["success"] for e in commits)
    assert any(e["name"] == "partitions_assigned" for e in events)


def test_dump_log_lists_every_offset(broker_factory, tmp_path):
    b = broker_factory(name="dump")
    topic = helpers.unique_topic("dump")
    create_topic(b, topic, 1)
    r = run(tmp_path, "kafka-verifiable-producer", "--topic", topic, "--bootstrap-server", b.bootstrap,
            "--max-messages", "300", "--value-prefix", "9")
    assert r.returncode == 0, r.stderr
    logs = glob.glob(os.path.join(b.data_dir, "**", topic + "-0", "*.log"), recursive=True)
    assert logs, "no segment file for %s under %s" % (topic, b.data_dir)
    seg = sorted(logs)[0]
    r = run(tmp_path, "kafka-dump-log", "--files", seg, "--print-data-log")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "Dumping " + seg and lines[1] == "Log starting offset: 0"
    batches = [l for l in lines if l.startswith("baseOffset: ")]
    records = [l for l in lines if l.startswith("| offset: ")]
    offsets = [int(re.match(r"\| offset: (\d+) ", l).group(1)) for l in records]
    payloads = [re.search(r" payload: (\S+)$", l).group(1) for l in records]
    summary("tools/dump-log: %d batches, %d records" % (len(batches), len(records)))
    assert batches and all("magic: 2 compresscodec: none" in l and l.endswith("isvalid: true") for l in batches)
    assert offsets == list(range(300))
    assert payloads == ["9.%d" % i for i in range(300)]
    r = run(tmp_path, "kafka-dump-log", "--files", seg, "--cluster-metadata-decoder")
    assert r.returncode == 1 and "openraft" in r.stderr
