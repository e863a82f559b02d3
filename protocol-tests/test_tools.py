"""Tools built into the gregor binary: `gregor health` (the image's HEALTHCHECK)
and the apache/kafka image environment (`--kafka-env`)."""

import os
import subprocess
import time

import helpers
from helpers import summary


def run_tool(*args, env=None, timeout=20):
    b = os.environ.get("GREGOR_BIN", helpers.DEFAULT_BIN)
    return subprocess.run([b, *args], capture_output=True, text=True, timeout=timeout, env=env)


def test_health_up_and_down(broker_factory):
    b = broker_factory(name="health")
    up = run_tool("health", "--bootstrap-server", b.bootstrap)
    b.stop()
    down = run_tool("health", "--bootstrap-server", b.bootstrap, "--timeout-ms", "1000")
    summary("tools/health: running broker -> rc %d %r; stopped -> rc %d %r"
            % (up.returncode, up.stdout.strip(), down.returncode, down.stderr.strip()))
    assert up.returncode == 0 and "is up" in up.stdout
    assert down.returncode == 1 and "not healthy" in down.stderr


def test_kafka_env_as_in_the_apache_image(tmp_path):
    """A broker configured only through apache/kafka-style environment variables:
    two named listeners with their own advertised addresses; the controller
    listener is not bound; JVM variables are ignored."""
    from confluent_kafka.admin import AdminClient
    internal, external, controller = helpers.free_port(), helpers.free_port(), helpers.free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": "INTERNAL://127.0.0.1:%d,EXTERNAL://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d"
                           % (internal, external, controller),
        "KAFKA_ADVERTISED_LISTENERS": "INTERNAL://127.0.0.2:%d,EXTERNAL://127.0.0.1:%d" % (internal, external),
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_INTER_BROKER_LISTENER_NAME": "INTERNAL",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@127.0.0.1:%d" % controller,
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        "KAFKA_NUM_PARTITIONS": "4",
        "KAFKA_LOG_DIRS": str(tmp_path / "data"),
        "KAFKA_HEAP_OPTS": "-Xmx512M",
        "CLUSTER_ID": "4L6g3nShT-eMCtK--X86sw",
    }
    b = os.environ.get("GREGOR_BIN", helpers.DEFAULT_BIN)
    log = open(tmp_path / "broker.log", "wb")
    proc = subprocess.Popen([b, "--kafka-env"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 10
        while run_tool("health", "--bootstrap-server", "127.0.0.1:%d" % external,
                       "--timeout-ms", "500").returncode != 0:
            assert time.time() < deadline and proc.poll() is None, open(tmp_path / "broker.log").read()
            time.sleep(0.05)
        md = AdminClient({"bootstrap.servers": "127.0.0.1:%d" % external}).list_topics(timeout=10)
        brokers = {bk.id: (bk.host, bk.port) for bk in md.brokers.values()}
        controller_bound = run_tool("health", "--bootstrap-server", "127.0.0.1:%d" % controller,
                                    "--timeout-ms", "500").returncode == 0
        raw = helpers.metadata_v4(("127.0.0.1", internal), [], False)
        internal_brokers = [(x[1], x[2]) for x in raw.brokers]
        cluster_id = md.cluster_id
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
    text = open(tmp_path / "broker.log").read()
    summary("tools/kafka-env: EXTERNAL clients see %r, INTERNAL clients see %r, controller listener bound: %s, "
            "cluster id %s" % (brokers, internal_brokers, controller_bound, cluster_id))
    assert brokers == {1: ("127.0.0.1", external)}
    assert internal_brokers == [("127.0.0.2", internal)]
    assert not controller_bound
    assert cluster_id == "4L6g3nShT-eMCtK--X86sw"
    assert "KAFKA_HEAP_OPTS" in text and "process.roles" in text


def test_topics_tool_as_kafka_topics_sh(broker_factory, tmp_path):
    """`gregor topics` and the same binary called `kafka-topics.sh`, with the flags
    init containers use."""
    from clients import topic_partitions
    b = broker_factory(name="topics-tool")
    link = tmp_path / "kafka-topics.sh"
    os.symlink(os.environ.get("GREGOR_BIN", helpers.DEFAULT_BIN), link)
    bs = ["--bootstrap-server", b.bootstrap]
    topic = helpers.unique_topic("tool")

    def sh(*args):
        return subprocess.run([str(link), *args], capture_output=True, text=True, timeout=30)

    created = run_tool("topics", *bs, "--create", "--topic", topic, "--partitions", "3",
                       "--replication-factor", "1", "--config", "retention.ms=3600000")
    again = sh(*bs, "--create", "--if-not-exists", "--topic", topic, "--partitions", "3")
    dup = sh(*bs, "--create", "--topic", topic)
    listed = sh(*bs, "--list")
    described = sh(*bs, "--describe", "--topic", topic)
    missing = sh(*bs, "--describe", "--topic", topic + "-missing")
    parts = topic_partitions(b.bootstrap, topic)
    deleted = sh(*bs, "--delete", "--topic", topic)
    gone = sh(*bs, "--delete", "--if-exists", "--topic", topic)
    bad_config = run_tool("topics", *bs, "--create", "--topic", topic, "--config", "retention.ms=soon")
    summary("tools/topics: create %r; --if-not-exists rc %d; duplicate %r; describe %r; missing %r; "
            "bad config %r" % (created.stdout.strip(), again.returncode, dup.stderr.strip(),
                               described.stdout.splitlines()[:2], missing.stderr.strip(), bad_config.stderr.strip()))
    assert created.returncode == 0 and created.stdout.strip() == "Created topic %s." % topic
    assert again.returncode == 0 and again.stdout == ""
    assert dup.returncode == 1 and "TopicAlreadyExists" in dup.stderr
    assert topic in listed.stdout.split()
    lines = described.stdout.splitlines()
    assert described.returncode == 0 and lines[0].startswith("Topic: %s\tTopicId: " % topic)
    assert "PartitionCount: 3\tReplicationFactor: 1" in lines[0] and len(lines) == 4
    assert lines[1] == "\tTopic: %s\tPartition: 0\tLeader: 1\tReplicas: 1\tIsr: 1" % topic
    assert missing.returncode == 1 and "UnknownTopicOrPartition" in missing.stderr
    assert topic_partitions(b.bootstrap, topic + "-missing") is None, "describe must not auto-create"
    assert parts == 3
    assert deleted.returncode == 0 and gone.returncode == 0
    assert topic not in sh(*bs, "--list").stdout.split()
    assert bad_config.returncode == 1 and "InvalidConfig" in bad_config.stderr
