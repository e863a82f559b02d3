"""Tools built into the gregor binary: `gregor health` (the image's HEALTHCHECK),
the apache/kafka image environment (`--kafka-env`), and Kafka's command-line tools
(kafka-topics.sh, kafka-console-producer.sh, kafka-console-consumer.sh,
kafka-consumer-groups.sh, kafka-configs.sh, kafka-broker-api-versions.sh), run both
as `gregor <tool>` and through symlinks named like the scripts."""

import os
import subprocess
import time

import pytest

import helpers
from helpers import summary


def run_tool(*args, env=None, timeout=20, input=None):
    b = os.environ.get("GREGOR_BIN", helpers.DEFAULT_BIN)
    return subprocess.run([b, *args], capture_output=True, text=True, timeout=timeout, env=env, input=input)


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


# ---------------------------------------------------------------------------
# Kafka's console tools, consumer-groups, configs and broker-api-versions, run as
# `gregor <tool>` and under the Kafka script names (argv0 dispatch).
# ---------------------------------------------------------------------------

SCRIPTS = ["kafka-topics.sh", "kafka-console-producer.sh", "kafka-console-consumer.sh",
           "kafka-consumer-groups.sh", "kafka-configs.sh", "kafka-broker-api-versions.sh"]


@pytest.fixture
def sh(tmp_path):
    """sh(script, *args, input=None): runs the gregor binary through a symlink named
    like the Kafka script."""
    binary = os.environ.get("GREGOR_BIN", helpers.DEFAULT_BIN)
    for name in SCRIPTS:
        os.symlink(binary, tmp_path / name)

    def run(script, *args, input=None, timeout=60):
        return subprocess.run([str(tmp_path / script), *args], capture_output=True, text=True,
                              input=input, timeout=timeout)
    return run


def broker_apis(b):
    return helpers.api_versions_addr(b.addr, version=3).apis


def test_console_producer_then_consumer_with_keys(group_broker, sh):
    """Keyed lines through kafka-console-producer.sh come back, in order and with
    their keys, from kafka-console-consumer.sh --from-beginning --max-messages."""
    bs = ["--bootstrap-server", group_broker.bootstrap]
    topic = helpers.unique_topic("console")
    assert run_tool("topics", *bs, "--create", "--topic", topic, "--partitions", "1").returncode == 0
    lines = ["user-%d:{\"n\": %d, \"tab\": \"a\tb\"}" % (i, i) for i in range(20)] + ["NULL:tombstone-key-null", "k:NULL"]
    produced = sh("kafka-console-producer.sh", *bs, "--topic", topic, "--property", "parse.key=true",
                  "--property", "key.separator=:", "--property", "null.marker=NULL",
                  "--producer-property", "acks=all", input="\n".join(lines) + "\n")
    consumed = sh("kafka-console-consumer.sh", *bs, "--topic", topic, "--from-beginning",
                  "--max-messages", str(len(lines)), "--property", "print.key=true",
                  "--property", "key.separator=|", "--property", "print.offset=true")
    # The same through the subcommand, with the older --broker-list flag and one partition.
    again = run_tool("console-producer", "--broker-list", group_broker.bootstrap, "--topic", topic,
                     "--request-required-acks", "1", input="plain value\n")
    tail = run_tool("console-consumer", *bs, "--topic", topic, "--partition", "0", "--offset", str(len(lines)),
                    "--max-messages", "1", "--property", "print.timestamp=true")
    summary("tools/console: producer rc %d, consumer rc %d, %d lines, stderr %r; tail %r"
            % (produced.returncode, consumed.returncode, len(consumed.stdout.splitlines()),
               consumed.stderr.strip(), tail.stdout.strip()))
    assert produced.returncode == 0, produced.stderr
    assert consumed.returncode == 0, consumed.stderr
    want = ["Offset:%d|user-%d|{\"n\": %d, \"tab\": \"a\tb\"}" % (i, i, i) for i in range(20)]
    want += ["Offset:20|null|tombstone-key-null", "Offset:21|k|null"]
    assert consumed.stdout == "\n".join(want) + "\n"
    assert consumed.stderr.strip().endswith("Processed a total of %d messages" % len(lines))
    assert again.returncode == 0, again.stderr
    assert tail.returncode == 0 and tail.stdout.startswith("CreateTime:") and tail.stdout.endswith("\tplain value\n")
    # The records are real v2 batches a Java-compatible client reads.
    from clients import consume_confluent
    got = consume_confluent(group_broker.bootstrap, topic, 1, len(lines) + 1)[0]
    assert got[0][1:3] == (b"user-0", b"{\"n\": 0, \"tab\": \"a\tb\"}")
    assert got[20][1:3] == (None, b"tombstone-key-null") and got[21][1:3] == (b"k", None)


def test_console_producer_partitions_like_java(group_broker, sh):
    """Keyed records land where librdkafka's Java-compatible murmur2 partitioner puts
    the same keys; the batches are compressed as asked and readable by librdkafka."""
    from clients import consume_confluent, create_topic, produce_confluent, stored_codecs
    from helpers import Msg
    bs = ["--bootstrap-server", group_broker.bootstrap]
    ours, theirs = helpers.unique_topic("murmur-ours"), helpers.unique_topic("murmur-theirs")
    create_topic(group_broker.bootstrap, ours, partitions=7)
    create_topic(group_broker.bootstrap, theirs, partitions=7)
    keys = ["key-%d" % i for i in range(60)] + ["21", "foobar", "", "ünïcode"]
    produced = sh("kafka-console-producer.sh", *bs, "--topic", ours, "--property", "parse.key=true",
                  "--compression-codec", "lz4", input="".join("%s\tv-%s\n" % (k, k) for k in keys))
    assert produced.returncode == 0, produced.stderr
    msgs = [Msg(i, -1, k.encode(), b"x", [], helpers.now_ms()) for i, k in enumerate(keys)]  # -1: the partitioner decides
    delivered = produce_confluent(group_broker.bootstrap, theirs, msgs, partitioner="murmur2_random")
    java_partition = {keys[i]: p for i, (p, _) in delivered.items()}
    got = consume_confluent(group_broker.bootstrap, ours, 7, len(keys))
    our_partition = {rec[1].decode(): p for p, recs in got.items() for rec in recs}
    codecs = {c for p in range(7) for c in stored_codecs(group_broker.addr, ours, p)}
    summary("tools/console: %d keys over 7 partitions, %d placed as librdkafka murmur2_random does; stored codecs %s"
            % (len(keys), sum(our_partition[k] == java_partition[k] for k in keys), sorted(codecs)))
    assert our_partition == java_partition
    assert codecs == {3}, "every batch lz4-compressed"
    assert all(recs[0][2].startswith(b"v-") for recs in got.values() if recs)


def test_console_consumer_reads_every_codec(group_broker, sh):
    """Batches confluent-kafka compressed with each codec print as plain lines."""
    from clients import CODECS, create_topic, produce_confluent
    from helpers import Msg
    topic = helpers.unique_topic("console-codecs")
    create_topic(group_broker.bootstrap, topic, partitions=3)
    want = []
    for codec in CODECS:
        msgs = [Msg(i, i % 3, b"k%d" % i, ("%s-%d" % (codec, i)).encode(), [("h", b"1")], helpers.now_ms())
                for i in range(40)]
        produce_confluent(group_broker.bootstrap, topic, msgs, codec=codec)
        want += [m.value.decode() for m in msgs]
    out = sh("kafka-console-consumer.sh", "--bootstrap-server", group_broker.bootstrap, "--topic", topic,
             "--from-beginning", "--max-messages", str(len(want)), "--timeout-ms", "10000",
             "--property", "print.headers=true")
    summary("tools/console: %d records in %s batches -> %d lines, rc %d"
            % (len(want), "/".join(CODECS), len(out.stdout.splitlines()), out.returncode))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert all(l.startswith("h:1\t") for l in lines)
    assert sorted(l.split("\t", 1)[1] for l in lines) == sorted(want)


def test_console_tools_errors(broker_factory, sh):
    """Unknown topics with auto-creation off, bad flags: exit 1 with a clear message."""
    b = broker_factory(overrides={"auto.create.topics.enable": "false"}, name="tools-errors")
    bs = ["--bootstrap-server", b.bootstrap]
    prod = sh("kafka-console-producer.sh", *bs, "--topic", "missing", input="x\n")
    cons = sh("kafka-console-consumer.sh", *bs, "--topic", "missing", "--timeout-ms", "500")
    bad_sep = sh("kafka-console-producer.sh", *bs, "--topic", "missing", "--property", "parse.key=true",
                 input="no-separator\n")
    bad_offset = sh("kafka-console-consumer.sh", *bs, "--topic", "missing", "--offset", "3")
    summary("tools/console errors: producer %r; consumer %r; offset without partition %r"
            % (prod.stderr.strip(), cons.stderr.strip(), bad_offset.stderr.strip()))
    assert prod.returncode == 1 and "UnknownTopicOrPartition" in prod.stderr and "missing" in prod.stderr
    assert cons.returncode == 1 and "UnknownTopicOrPartition" in cons.stderr
    assert bad_sep.returncode == 1
    assert bad_offset.returncode == 1 and "partition is required" in bad_offset.stderr
    from clients import topic_partitions
    assert topic_partitions(b.bootstrap, "missing") is None


def describe_rows(stdout):
    lines = stdout.splitlines()
    assert lines[0] == "" and lines[1].split() == ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET",
                                                   "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID"], stdout
    return [l.split() for l in lines[2:]]


def test_consumer_groups_lag_reset_delete(group_broker, sh):
    """kafka-consumer-groups.sh against a group a confluent consumer committed to:
    --describe shows the lag, --reset-offsets moves the offsets (not while a member
    is active), console-consumer --group resumes from them, --delete removes it."""
    from confluent_kafka import TopicPartition
    from clients import ck_consumer, create_topic, produce_confluent
    from helpers import Msg
    bs = ["--bootstrap-server", group_broker.bootstrap]
    topic, group = helpers.unique_topic("lag"), "grp-" + helpers.unique_topic("lag")
    create_topic(group_broker.bootstrap, topic, partitions=2)
    produce_confluent(group_broker.bootstrap, topic,
                      [Msg(i, i % 2, None, b"m%d" % i, [], helpers.now_ms()) for i in range(20)])
    c = ck_consumer(group_broker.bootstrap, **{"group.id": group})
    c.commit(offsets=[TopicPartition(topic, 0, 3), TopicPartition(topic, 1, 10)], asynchronous=False)
    c.close()
    described = sh("kafka-consumer-groups.sh", *bs, "--describe", "--group", group)
    listed = sh("kafka-consumer-groups.sh", *bs, "--list")
    # An active member: shown with its ids; offsets cannot be reset under it.
    member = ck_consumer(group_broker.bootstrap, **{"group.id": group, "client.id": "lag-client"})
    member.subscribe([topic])
    deadline = time.time() + 20
    while not member.assignment():
        assert time.time() < deadline, "confluent consumer got no assignment"
        member.poll(0.2)
    active = sh("kafka-consumer-groups.sh", *bs, "--describe", "--group", group)
    refused = sh("kafka-consumer-groups.sh", *bs, "--reset-offsets", "--group", group, "--topic", topic,
                 "--to-earliest", "--execute")
    member.close()
    dry = sh("kafka-consumer-groups.sh", *bs, "--reset-offsets", "--group", group, "--topic", topic,
             "--to-offset", "5", "--dry-run")
    after_dry = describe_rows(sh("kafka-consumer-groups.sh", *bs, "--describe", "--group", group).stdout)
    reset = sh("kafka-consumer-groups.sh", *bs, "--reset-offsets", "--group", group, "--topic", topic + ":1",
               "--to-offset", "7", "--execute")
    resumed = sh("kafka-console-consumer.sh", *bs, "--topic", topic, "--group", group, "--timeout-ms", "1500",
                 "--property", "print.partition=true")
    after_resume = describe_rows(sh("kafka-consumer-groups.sh", *bs, "--describe", "--group", group).stdout)
    deleted = sh("kafka-consumer-groups.sh", *bs, "--delete", "--group", group)
    gone = sh("kafka-consumer-groups.sh", *bs, "--describe", "--group", group)
    rows = describe_rows(described.stdout)
    summary("tools/consumer-groups: describe %r; active %r; reset refused %r; resumed %d lines; delete %r"
            % (rows, describe_rows(active.stdout), refused.stderr.strip(), len(resumed.stdout.splitlines()),
               deleted.stdout.strip()))
    assert described.returncode == 0, described.stderr
    assert rows == [[group, topic, "0", "3", "10", "7", "-", "-", "-"],
                    [group, topic, "1", "10", "10", "0", "-", "-", "-"]]
    assert "has no active members" in described.stderr
    assert group in listed.stdout.split()
    active_rows = describe_rows(active.stdout)
    assert {r[2] for r in active_rows} == {"0", "1"}
    assert all(r[6] != "-" and r[8] == "lag-client" for r in active_rows)
    assert refused.returncode == 1 and "inactive" in refused.stderr
    assert dry.returncode == 0 and [l.split() for l in dry.stdout.splitlines()[2:]] == [
        [group, topic, "0", "5"], [group, topic, "1", "5"]]
    assert [r[3] for r in after_dry] == ["3", "10"], "--dry-run must not commit"
    assert reset.returncode == 0 and reset.stdout.splitlines()[2].split() == [group, topic, "1", "7"]
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(resumed.stdout.splitlines()) == sorted(
        ["Partition:0\tm%d" % i for i in range(6, 20, 2)] + ["Partition:1\tm%d" % i for i in range(15, 20, 2)])
    assert [(r[3], r[5]) for r in after_resume] == [("10", "0"), ("10", "0")]
    assert deleted.returncode == 0 and deleted.stdout.strip() == \
        "Deletion of requested consumer groups ('%s') was successful." % group
    assert gone.returncode == 1 and "does not exist" in gone.stderr
    assert group not in sh("kafka-consumer-groups.sh", *bs, "--list").stdout.split()


def test_broker_api_versions_matches_api_versions(group_broker, sh):
    """kafka-broker-api-versions.sh prints exactly what ApiVersions advertises."""
    import re
    out = sh("kafka-broker-api-versions.sh", "--bootstrap-server", group_broker.bootstrap)
    same = run_tool("broker-api-versions", "--bootstrap-server", group_broker.bootstrap)
    lines = out.stdout.splitlines()
    apis = broker_apis(group_broker)
    printed, unsupported = {}, set()
    for l in lines[1:-1]:
        m = re.fullmatch(r"\t(\w+)\((\d+)\): (\d+)(?: to (\d+))? \[usable: (\d+)\],?", l)
        if m:
            lo = int(m.group(3))
            printed[int(m.group(2))] = (lo, int(m.group(4)) if m.group(4) else lo)
            continue
        m = re.fullmatch(r"\t(\w+)\((\d+)\): UNSUPPORTED,?", l)
        assert m, "unexpected line %r" % l
        unsupported.add(int(m.group(2)))
    summary("tools/broker-api-versions: %d APIs printed, %d UNSUPPORTED; first %r"
            % (len(printed), len(unsupported), lines[:2]))
    assert out.returncode == 0 and out.stdout == same.stdout
    assert lines[0] == "%s (id: 1 rack: null) -> (" % group_broker.bootstrap
    assert lines[-1] == ")" and not lines[-2].endswith(",")
    assert printed == apis
    assert not unsupported & set(apis)
    assert "Produce(0): " in out.stdout and "ApiVersions(18): " in out.stdout


def test_configs_tool(group_broker, sh):
    """kafka-configs.sh --alter/--describe on a topic; skipped until the broker
    advertises DescribeConfigs (32) and IncrementalAlterConfigs (44), and then the
    tool must say clearly that the broker lacks them."""
    bs = ["--bootstrap-server", group_broker.bootstrap]
    topic = helpers.unique_topic("cfg")
    assert run_tool("topics", *bs, "--create", "--topic", topic, "--partitions", "1").returncode == 0
    apis = broker_apis(group_broker)
    if 32 not in apis or 44 not in apis:
        r = sh("kafka-configs.sh", *bs, "--entity-type", "topics", "--entity-name", topic, "--describe")
        assert r.returncode == 1 and "does not support" in r.stderr and "32" in r.stderr, r.stderr
        pytest.skip("broker lacks DescribeConfigs/IncrementalAlterConfigs")
    alter = sh("kafka-configs.sh", *bs, "--entity-type", "topics", "--entity-name", topic, "--alter",
               "--add-config", "retention.ms=123456,cleanup.policy=[compact,delete]")
    described = sh("kafka-configs.sh", *bs, "--topic", topic, "--describe")
    everything = run_tool("configs", *bs, "--entity-type", "topics", "--entity-name", topic, "--describe", "--all")
    topics_view = sh("kafka-topics.sh", *bs, "--describe", "--topic", topic)
    removed = sh("kafka-configs.sh", *bs, "--entity-type", "topics", "--entity-name", topic, "--alter",
                 "--delete-config", "retention.ms")
    after = sh("kafka-configs.sh", *bs, "--topic", topic, "--describe")
    invalid = sh("kafka-configs.sh", *bs, "--topic", topic, "--alter", "--add-config", "retention.ms=soon")
    summary("tools/configs: %r; describe %r; after delete %r; invalid %r"
            % (alter.stdout.strip(), described.stdout.splitlines(), after.stdout.splitlines(), invalid.stderr.strip()))
    assert alter.returncode == 0 and alter.stdout.strip() == "Completed updating config for topic %s." % topic
    lines = described.stdout.splitlines()
    assert lines[0] == "Dynamic configs for topic %s are:" % topic
    assert lines[1] == "  cleanup.policy=compact,delete sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:cleanup.policy=compact,delete}" or \
        lines[1].startswith("  cleanup.policy=compact,delete sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:cleanup.policy=compact,delete")
    assert lines[2].startswith("  retention.ms=123456 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=123456")
    assert everything.stdout.startswith("All configs for topic %s are:" % topic)
    assert len(everything.stdout.splitlines()) > 3
    assert "Configs: cleanup.policy=compact,delete,retention.ms=123456" in topics_view.stdout
    assert removed.returncode == 0
    assert not any(l.startswith("  retention.ms=") for l in after.stdout.splitlines())
    assert invalid.returncode == 1 and "InvalidConfig" in invalid.stderr


def test_topics_alter_partitions(group_broker, sh):
    """kafka-topics.sh --alter --partitions N (CreatePartitions); skipped until the
    broker advertises key 37, and then the tool must say clearly it is missing."""
    from clients import topic_partitions
    bs = ["--bootstrap-server", group_broker.bootstrap]
    topic = helpers.unique_topic("grow")
    assert run_tool("topics", *bs, "--create", "--topic", topic, "--partitions", "1").returncode == 0
    r = sh("kafka-topics.sh", *bs, "--alter", "--topic", topic, "--partitions", "3")
    if 37 not in broker_apis(group_broker):
        assert r.returncode == 1 and "CreatePartitions" in r.stderr and "37" in r.stderr, r.stderr
        pytest.skip("broker lacks CreatePartitions")
    shrink = sh("kafka-topics.sh", *bs, "--alter", "--topic", topic, "--partitions", "2")
    summary("tools/topics --alter: rc %d; shrink %r" % (r.returncode, shrink.stderr.strip()))
    assert r.returncode == 0, r.stderr
    assert topic_partitions(group_broker.bootstrap, topic) == 3
    assert shrink.returncode == 1 and "InvalidPartitions" in shrink.stderr
