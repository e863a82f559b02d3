"""Kafka's admin tools built into the gregor binary, each run through a symlink
named like its Kafka script (as the image links them): kafka-get-offsets.sh,
kafka-delete-records.sh, kafka-log-dirs.sh, kafka-leader-election.sh,
kafka-cluster.sh, kafka-features.sh, kafka-metadata-quorum.sh and
kafka-transactions.sh. Every assertion checks the tool's output against what a
real client (confluent-kafka) sees of the same broker."""

import json
import os
import subprocess
import time

import pytest

import helpers
from helpers import summary

SCRIPTS = ["kafka-get-offsets.sh", "kafka-delete-records.sh", "kafka-log-dirs.sh",
           "kafka-leader-election.sh", "kafka-cluster.sh", "kafka-features.sh",
           "kafka-metadata-quorum.sh", "kafka-transactions.sh", "kafka-topics.sh"]


@pytest.fixture
def sh(tmp_path):
    """sh(script, *args): runs the gregor binary through a symlink named like the script."""
    binary = os.environ.get("GREGOR_BIN", helpers.DEFAULT_BIN)
    for name in SCRIPTS:
        os.symlink(binary, tmp_path / name)

    def run(script, *args, timeout=60):
        return subprocess.run([str(tmp_path / script), *args], capture_output=True, text=True,
                              timeout=timeout)
    return run


def produce(bootstrap, topic, counts):
    """Produces counts[p] records to partition p of a new topic; returns the
    delivered offsets per partition."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic
    a = AdminClient({"bootstrap.servers": bootstrap})
    a.create_topics([NewTopic(topic, len(counts), 1)])[topic].result(20)
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for part, n in enumerate(counts):
        for i in range(n):
            p.produce(topic, value=b"v%d" % i, partition=part)
    assert p.flush(30) == 0


def watermarks(bootstrap, topic, partition):
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "wm-" + topic})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10, cached=False)
    finally:
        c.close()


def test_get_offsets(broker, sh):
    topic = helpers.unique_topic("getoffs")
    counts = [3, 0, 7]
    produce(broker.bootstrap, topic, counts)
    bs = ["--bootstrap-server", broker.bootstrap]
    latest = sh("kafka-get-offsets.sh", *bs, "--topic", topic)
    earliest = sh("kafka-get-offsets.sh", *bs, "--topic", topic, "--time", "-2")
    picked = sh("kafka-get-offsets.sh", *bs, "--topic-partitions", "%s:0-2" % topic)
    one = sh("kafka-get-offsets.sh", *bs, "--topic", topic, "--partitions", "2", "--time", "earliest")
    none = sh("kafka-get-offsets.sh", *bs, "--topic", "no-such-" + topic)
    summary("tools/get-offsets: latest %r, earliest %r, :0-2 %r"
            % (latest.stdout.split(), earliest.stdout.split(), picked.stdout.split()))
    assert latest.returncode == 0, latest.stderr
    assert latest.stdout.split() == ["%s:%d:%d" % (topic, p, n) for p, n in enumerate(counts)]
    assert earliest.stdout.split() == ["%s:%d:0" % (topic, p) for p in range(3)]
    assert picked.stdout.split() == ["%s:0:3" % topic, "%s:1:0" % topic]
    assert one.stdout.split() == ["%s:2:0" % topic]
    assert none.returncode == 1 and "Could not match any topic-partitions" in none.stderr
    for p, n in enumerate(counts):
        assert watermarks(broker.bootstrap, topic, p) == (0, n)


def test_delete_records_moves_the_log_start(broker, sh, tmp_path):
    topic = helpers.unique_topic("delrec")
    produce(broker.bootstrap, topic, [10])
    f = tmp_path / "offsets.json"
    f.write_text(json.dumps({"partitions": [{"topic": topic, "partition": 0, "offset": 4}], "version": 1}))
    r = sh("kafka-delete-records.sh", "--bootstrap-server", broker.bootstrap, "--offset-json-file", str(f))
    low, high = watermarks(broker.bootstrap, topic, 0)
    summary("tools/delete-records: %r; confluent watermarks now (%d, %d)" % (r.stdout, low, high))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["Executing records delete operation",
                                     "Records delete operation completed:",
                                     "partition: %s-0\tlow_watermark: 4" % topic]
    assert (low, high) == (4, 10)
    dup = tmp_path / "dup.json"
    dup.write_text(json.dumps({"partitions": [{"topic": topic, "partition": 0, "offset": 1}] * 2}))
    bad = sh("kafka-delete-records.sh", "--bootstrap-server", broker.bootstrap, "--offset-json-file", str(dup))
    assert bad.returncode == 1 and "duplicate topic partitions" in bad.stderr


def test_log_dirs_lists_partition_sizes(broker, sh):
    topic = helpers.unique_topic("logdirs")
    produce(broker.bootstrap, topic, [5, 0])
    r = sh("kafka-log-dirs.sh", "--bootstrap-server", broker.bootstrap, "--describe", "--topic-list", topic)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "Querying brokers for log directories information"
    assert lines[1].startswith("Received log directory information from brokers ")
    doc = json.loads(lines[2])
    parts = {p["partition"]: p for b in doc["brokers"] for d in b["logDirs"] for p in d["partitions"]}
    summary("tools/log-dirs: %s" % lines[2][:300])
    assert doc["version"] == 1
    assert set(parts) == {topic + "-0", topic + "-1"}
    assert parts[topic + "-0"]["size"] > 0 and parts[topic + "-1"]["size"] == 0
    assert parts[topic + "-0"]["isFuture"] is False


def test_leader_election_not_needed(broker, sh):
    topic = helpers.unique_topic("elect")
    produce(broker.bootstrap, topic, [1])
    r = sh("kafka-leader-election.sh", "--bootstrap-server", broker.bootstrap,
           "--election-type", "preferred", "--topic", topic, "--partition", "0")
    summary("tools/leader-election: %r" % r.stdout)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "Valid replica already elected for partitions %s-0" % topic
    both = sh("kafka-leader-election.sh", "--bootstrap-server", broker.bootstrap,
              "--election-type", "unclean", "--topic", topic, "--all-topic-partitions")
    assert both.returncode == 1


def test_cluster_id_and_endpoints(broker, sh):
    from confluent_kafka.admin import AdminClient
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    expected = admin.describe_cluster().result(10).cluster_id
    r = sh("kafka-cluster.sh", "cluster-id", "--bootstrap-server", broker.bootstrap)
    # `:port` (empty host) means localhost, as compose docs write it.
    empty_host = sh("kafka-cluster.sh", "cluster-id", "-b", ":%d" % broker.port)
    eps = sh("kafka-cluster.sh", "list-endpoints", "--bootstrap-server", broker.bootstrap)
    unreg = sh("kafka-cluster.sh", "unregister", "--bootstrap-server", broker.bootstrap, "--id", "1")
    summary("tools/cluster: %r (AdminClient: %s); endpoints %r" % (r.stdout.strip(), expected, eps.stdout))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "Cluster ID: %s" % expected
    assert empty_host.stdout.strip() == "Cluster ID: %s" % expected, empty_host.stderr
    rows = [l.split() for l in eps.stdout.splitlines()]
    assert rows[0] == ["ID", "HOST", "PORT", "RACK", "STATE", "ENDPOINT_TYPE"]
    assert rows[1][1:] == ["127.0.0.1", str(broker.port), "null", "unfenced", "broker"]
    assert unreg.returncode == 1 and "UnregisterBroker" in unreg.stderr


def test_metadata_quorum(broker, sh):
    from confluent_kafka.admin import AdminClient
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    desc = admin.describe_cluster().result(10)
    r = sh("kafka-metadata-quorum.sh", "--bootstrap-server", broker.bootstrap, "describe", "--status")
    assert r.returncode == 0, r.stderr
    status = dict(l.split(":", 1) for l in r.stdout.splitlines())
    status = {k: v.strip() for k, v in status.items()}
    rep = sh("kafka-metadata-quorum.sh", "--bootstrap-server", broker.bootstrap,
             "describe", "--replication", "--human-readable")
    summary("tools/metadata-quorum: %r / %r" % (r.stdout, rep.stdout))
    assert status["ClusterId"] == desc.cluster_id
    assert int(status["LeaderId"]) == desc.controller.id
    assert int(status["LeaderEpoch"]) >= 1 and int(status["HighWatermark"]) >= 1
    assert status["MaxFollowerLag"] == "0" and status["CurrentObservers"] == "[]"
    assert status["CurrentVoters"].startswith('[{"id": %d' % desc.controller.id)
    assert rep.returncode == 0, rep.stderr
    rows = [l.split("\t") for l in rep.stdout.splitlines()]
    assert rows[0][0].strip() == "NodeId" and rows[1][0].strip() == str(desc.controller.id)
    assert rows[1][6].strip() == "Leader" and rows[1][4].strip().endswith("ms ago")
    # The high watermark grows as metadata is written (a topic creation).
    produce(broker.bootstrap, helpers.unique_topic("quorum"), [1])
    again = sh("kafka-metadata-quorum.sh", "--bootstrap-server", broker.bootstrap, "describe", "--status")
    hw2 = int(dict(l.split(":", 1) for l in again.stdout.splitlines())["HighWatermark"])
    assert hw2 > int(status["HighWatermark"])
    add = sh("kafka-metadata-quorum.sh", "--bootstrap-server", broker.bootstrap, "add-controller")
    assert add.returncode == 1 and "Error:" in add.stderr


def test_features(broker, sh):
    m = sh("kafka-features.sh", "--bootstrap-server", broker.bootstrap, "version-mapping",
           "--release-version", "4.0")
    d = sh("kafka-features.sh", "--bootstrap-server", broker.bootstrap, "describe")
    up = sh("kafka-features.sh", "--bootstrap-server", broker.bootstrap, "upgrade",
            "--feature", "group.version=1", "--dry-run")
    summary("tools/features: mapping %r; describe rc %d; upgrade %r" % (m.stdout.split(), d.returncode, up.stdout))
    assert m.returncode == 0 and m.stdout.splitlines()[0] == "metadata.version=25 (4.0)"
    assert d.returncode == 0, d.stderr
    assert up.returncode == 1 and "UpdateFeatures" in up.stdout


def test_transactions_list_shows_an_open_transaction(broker, sh):
    from confluent_kafka import Producer
    topic = helpers.unique_topic("txntool")
    produce(broker.bootstrap, topic, [0])
    tid = "tool-txn-" + topic
    p = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": tid})
    p.init_transactions(30)
    p.begin_transaction()
    p.produce(topic, value=b"open", partition=0)
    p.flush(30)
    bs = ["--bootstrap-server", broker.bootstrap]
    try:
        lst = sh("kafka-transactions.sh", *bs, "list")
        desc = sh("kafka-transactions.sh", *bs, "describe", "--transactional-id", tid)
        prods = sh("kafka-transactions.sh", *bs, "describe-producers", "--topic", topic, "--partition", "0")
        abort = sh("kafka-transactions.sh", *bs, "abort", "--topic", topic, "--partition", "0",
                   "--start-offset", "0")
    finally:
        p.abort_transaction(30)
    summary("tools/transactions: list %r; describe %r" % (lst.stdout, desc.stdout))
    assert lst.returncode == 0, lst.stderr
    rows = [[c.strip() for c in l.split("\t")] for l in lst.stdout.splitlines()]
    assert rows[0][:4] == ["TransactionalId", "Coordinator", "ProducerId", "TransactionState"]
    mine = [r for r in rows[1:] if r[0] == tid]
    assert mine and mine[0][3] == "Ongoing"
    assert desc.returncode == 0, desc.stderr
    drow = [c.strip() for c in desc.stdout.splitlines()[1].split("\t")]
    assert drow[1] == tid and drow[4] == "Ongoing" and drow[8] == "%s-0" % topic
    assert prods.returncode == 0, prods.stderr
    prow = [c.strip() for c in prods.stdout.splitlines()[1].split("\t")]
    assert prow[0] == mine[0][2] and prow[5] == "0"
    assert abort.returncode == 1 and "WriteTxnMarkers" in abort.stderr
