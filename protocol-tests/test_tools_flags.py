"""Kafka 4.1's flags of kafka-topics.sh, kafka-console-consumer.sh,
kafka-console-producer.sh and kafka-consumer-groups.sh (issue 14: the command
lines compose files and init containers already have run unchanged), each run
through the real gregor binary under its Kafka script name against a real broker;
the outcome is checked against the broker's state through confluent-kafka."""

import os
import struct
import subprocess
import time

import pytest

import helpers
from helpers import Msg, summary

SCRIPTS = ["kafka-topics.sh", "kafka-console-producer.sh", "kafka-console-consumer.sh",
           "kafka-consumer-groups.sh"]


@pytest.fixture
def sh(tmp_path):
    """sh(script, *args, input=None): the gregor binary through a symlink named like
    the Kafka script, as the image links them."""
    binary = os.environ.get("GREGOR_BIN", helpers.DEFAULT_BIN)
    for name in SCRIPTS:
        os.symlink(binary, tmp_path / name)

    def run(script, *args, input=None, timeout=60):
        return subprocess.run([str(tmp_path / script), *args], capture_output=True, text=True,
                              input=input, timeout=timeout)
    return run


def committed(bootstrap, group, topic, partitions):
    from confluent_kafka import TopicPartition
    from clients import ck_consumer
    c = ck_consumer(bootstrap, **{"group.id": group})
    try:
        got = c.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
        return {tp.partition: tp.offset for tp in got}
    finally:
        c.close()


def commit(bootstrap, group, topic, offsets):
    from confluent_kafka import TopicPartition
    from clients import ck_consumer
    c = ck_consumer(bootstrap, **{"group.id": group})
    c.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False)
    c.close()


# ---------------------------------------------------------------------------
# kafka-topics.sh
# ---------------------------------------------------------------------------

def test_topics_flags(group_broker, sh):
    from clients import create_topic, produce_confluent
    bs = ["--bootstrap-server", group_broker.bootstrap]
    base = helpers.unique_topic("flagsorders")
    a, b, other = base + "-a", base + "-b", helpers.unique_topic("flagsother")
    created = sh("kafka-topics.sh", "-bootstrap-server", group_broker.bootstrap, "-create", "-topic", a,
                 "-partitions", "2")
    create_topic(group_broker.bootstrap, b, partitions=1, config={"retention.ms": "3600000"})
    create_topic(group_broker.bootstrap, other, partitions=1)
    # __consumer_offsets exists once a group committed.
    commit(group_broker.bootstrap, "flags-" + base, other, {0: 0})
    version = sh("kafka-topics.sh", "--version")
    no_action = sh("kafka-topics.sh", *bs)
    two_actions = sh("kafka-topics.sh", *bs, "--list", "--describe")
    listed = sh("kafka-topics.sh", *bs, "--list").stdout.split()
    listed_ex = sh("kafka-topics.sh", *bs, "--list", "--exclude-internal").stdout.split()
    regex_list = sh("kafka-topics.sh", *bs, "--list", "--topic", base + ".*").stdout.split()
    described = sh("kafka-topics.sh", *bs, "--describe", "--topic", "'%s.*'" % base)
    overrides = sh("kafka-topics.sh", *bs, "--describe", "--topics-with-overrides", "--topic", base + ".*")
    under = sh("kafka-topics.sh", *bs, "--describe", "--under-replicated-partitions", "--topic", base + ".*")
    unavailable = sh("kafka-topics.sh", *bs, "--describe", "--unavailable-partitions")
    at_min = sh("kafka-topics.sh", *bs, "--describe", "--at-min-isr-partitions", "--topic", a)
    under_min = sh("kafka-topics.sh", *bs, "--describe", "--under-min-isr-partitions", "--topic", a)
    topic_id = described.stdout.splitlines()[0].split("TopicId: ")[1].split("\t")[0]
    by_id = sh("kafka-topics.sh", *bs, "--describe", "--topic-id", topic_id)
    paged = sh("kafka-topics.sh", *bs, "--describe", "--topic", a, "--partition-size-limit-per-response", "1")
    delete_config = sh("kafka-topics.sh", *bs, "--describe", "--topic", a, "--delete-config", "retention.ms")
    bad_combo = sh("kafka-topics.sh", *bs, "--list", "--partitions", "3")
    summary("tools-flags/topics: created %r, regex describe %d lines, overrides %r, by id %r, no action %r"
            % (created.stdout.strip(), len(described.stdout.splitlines()), overrides.stdout.strip(),
               by_id.stdout.splitlines()[:1], no_action.stderr.strip()))
    assert created.returncode == 0 and created.stdout.strip() == "Created topic %s." % a
    assert version.returncode == 0 and version.stdout.startswith("4.1.0")
    want = "Command must include exactly one action: --list, --describe, --create, --alter or --delete"
    assert no_action.returncode == 1 and want in no_action.stderr
    assert two_actions.returncode == 1 and want in two_actions.stderr
    assert "__consumer_offsets" in listed and "__consumer_offsets" not in listed_ex
    assert a in listed_ex and other in listed_ex
    assert regex_list == [a, b]
    heads = [l for l in described.stdout.splitlines() if l.startswith("Topic: ")]
    assert [h.split("\t")[0] for h in heads] == ["Topic: " + a, "Topic: " + b]
    assert len(described.stdout.splitlines()) == 2 + 2 + 1
    assert overrides.stdout.splitlines() == [l for l in heads if l.startswith("Topic: " + b)]
    assert "retention.ms=3600000" in overrides.stdout
    assert under.returncode == 0 and under.stdout == ""
    assert unavailable.returncode == 0 and unavailable.stdout == ""
    # One replica and min.insync.replicas=1: every partition is at (not under) min ISR.
    assert len(at_min.stdout.splitlines()) == 2 and under_min.stdout == ""
    assert by_id.returncode == 0 and by_id.stdout.splitlines()[0].startswith("Topic: %s\t" % a)
    assert paged.returncode == 0 and len(paged.stdout.splitlines()) == 3
    assert delete_config.returncode == 0 and "no longer supported" in delete_config.stderr
    assert bad_combo.returncode == 1 and "can't be used with" in bad_combo.stderr


def test_topics_replica_assignment_alter_and_regex_delete(group_broker, sh):
    from clients import topic_partitions
    bs = ["--bootstrap-server", group_broker.bootstrap]
    base = helpers.unique_topic("flagsassign")
    ok = sh("kafka-topics.sh", *bs, "--create", "--topic", base + "-x", "--replica-assignment", "1,1")
    unknown = sh("kafka-topics.sh", *bs, "--create", "--topic", base + "-y", "--replica-assignment", "1:7")
    dup = sh("kafka-topics.sh", *bs, "--create", "--topic", base + "-z", "--replica-assignment", "1:1")
    with_parts = sh("kafka-topics.sh", *bs, "--create", "--topic", base + "-w", "--replica-assignment", "1",
                    "--partitions", "2")
    parts_x = topic_partitions(group_broker.bootstrap, base + "-x")
    altered = sh("kafka-topics.sh", *bs, "--alter", "--topic", base + "-x", "--partitions", "3",
                 "--replica-assignment", "1,1,1")
    parts_after = topic_partitions(group_broker.bootstrap, base + "-x")
    sh("kafka-topics.sh", *bs, "--create", "--topic", base + "-v")
    deleted = sh("kafka-topics.sh", *bs, "--delete", "--topic", base + ".*")
    left = sh("kafka-topics.sh", *bs, "--list", "--topic", base + ".*").stdout.split()
    missing = sh("kafka-topics.sh", *bs, "--delete", "--topic", base + ".*")
    tolerated = sh("kafka-topics.sh", *bs, "--delete", "--if-exists", "--topic", base + ".*")
    summary("tools-flags/topics: --replica-assignment 1,1 -> %r partitions, unknown broker %r, alter -> %r, "
            "regex delete left %r" % (parts_x, unknown.stderr.strip(), parts_after, left))
    assert ok.returncode == 0 and parts_x == 2, ok.stderr
    assert unknown.returncode == 1 and "7" in unknown.stderr and "unknown broker" in unknown.stderr
    assert dup.returncode == 1 and "duplicate entries: 1" in dup.stderr
    assert with_parts.returncode == 1 and "can't be used with" in with_parts.stderr
    assert altered.returncode == 0 and parts_after == 3, altered.stderr
    assert deleted.returncode == 0 and left == [], deleted.stderr
    assert missing.returncode == 1 and "does not exist as expected" in missing.stderr
    assert tolerated.returncode == 0


# ---------------------------------------------------------------------------
# kafka-console-consumer.sh
# ---------------------------------------------------------------------------

def test_console_consumer_flags(group_broker, sh, tmp_path):
    from clients import create_topic, produce_confluent
    bs = ["--bootstrap-server", group_broker.bootstrap]
    base = helpers.unique_topic("flagsinc")
    one, two, nums = base + "-1", base + "-2", helpers.unique_topic("flagsnums")
    for t in (one, two, nums):
        create_topic(group_broker.bootstrap, t, partitions=1)
    produce_confluent(group_broker.bootstrap, one, [Msg(i, 0, None, b"one-%d" % i, [], helpers.now_ms()) for i in range(3)])
    produce_confluent(group_broker.bootstrap, two, [Msg(i, 0, None, b"two-%d" % i, [], helpers.now_ms()) for i in range(2)])
    produce_confluent(group_broker.bootstrap, nums,
                      [Msg(0, 0, struct.pack(">q", 42), struct.pack(">i", -7), [], helpers.now_ms()),
                       Msg(1, 0, struct.pack(">q", 43), b"bad", [], helpers.now_ms()),
                       Msg(2, 0, struct.pack(">q", 44), struct.pack(">i", 9), [], helpers.now_ms())])
    common = ["--from-beginning", "--timeout-ms", "3000"]
    included = sh("kafka-console-consumer.sh", *bs, "--include", base + ".*", *common, "--max-messages", "5")
    whitelisted = sh("kafka-console-consumer.sh", *bs, "--whitelist", base + "-2", *common, "--max-messages", "2")
    both = sh("kafka-console-consumer.sh", *bs, "--include", base + ".*", "--topic", one)
    numbers = sh("kafka-console-consumer.sh", *bs, "-topic", nums, *common, "--max-messages", "3",
                 "--key-deserializer", "org.apache.kafka.common.serialization.LongDeserializer",
                 "--value-deserializer", "org.apache.kafka.common.serialization.IntegerDeserializer",
                 "--formatter-property", "print.key=true", "--skip-message-on-error")
    stops = sh("kafka-console-consumer.sh", *bs, "--topic", nums, *common, "--max-messages", "3",
               "--value-deserializer", "org.apache.kafka.common.serialization.IntegerDeserializer")
    noop = sh("kafka-console-consumer.sh", *bs, "--topic", one, *common, "--max-messages", "3",
              "--formatter", "org.apache.kafka.tools.consumer.NoOpMessageFormatter", "--enable-systest-events")
    logging = sh("kafka-console-consumer.sh", *bs, "--topic", one, *common, "--max-messages", "1",
                 "--formatter", "org.apache.kafka.tools.consumer.LoggingMessageFormatter")
    other_fmt = sh("kafka-console-consumer.sh", *bs, "--topic", one, "--formatter",
                   "org.apache.kafka.tools.consumer.group.OffsetsMessageFormatter")
    cfg = tmp_path / "formatter.properties"
    cfg.write_text("print.offset=true\nkey.separator=|\n")
    configured = sh("kafka-console-consumer.sh", *bs, "--topic", one, *common, "--max-messages", "1",
                    "--formatter-config", str(cfg), "--consumer-property", "client.id=flags",
                    "--consumer.config", "/dev/null")
    summary("tools-flags/console-consumer: --include %r, numbers %r, noop %r"
            % (sorted(included.stdout.split()), numbers.stdout.split("\n"), noop.stdout.strip()))
    assert included.returncode == 0, included.stderr
    assert sorted(included.stdout.split()) == ["one-0", "one-1", "one-2", "two-0", "two-1"]
    assert whitelisted.returncode == 0 and whitelisted.stdout.split() == ["two-0", "two-1"]
    assert "--whitelist" in whitelisted.stderr
    assert both.returncode == 1 and "Exactly one of --include/--topic is required." in both.stderr
    assert numbers.returncode == 0, numbers.stderr
    assert numbers.stdout == "42\t-7\n44\t9\n"
    assert "skipping this message" in numbers.stderr and "IntegerDeserializer is not 4" in numbers.stderr
    assert stops.returncode == 1 and stops.stdout == "-7\n" and "IntegerDeserializer" in stops.stderr
    assert noop.returncode == 0 and noop.stdout == "shutdown_complete\n"
    assert "Processed a total of 3 messages" in noop.stderr
    assert logging.returncode == 0 and logging.stdout == "one-0\n"
    assert "key:null value:one-0" in logging.stderr
    assert other_fmt.returncode == 1 and "OffsetsMessageFormatter" in other_fmt.stderr
    assert configured.returncode == 0 and configured.stdout == "Offset:0|one-0\n", configured.stderr


# ---------------------------------------------------------------------------
# kafka-console-producer.sh
# ---------------------------------------------------------------------------

def test_console_producer_flags(group_broker, sh, tmp_path):
    from clients import consume_confluent, create_topic, stored_codecs
    bs = ["--bootstrap-server", group_broker.bootstrap]
    topic = helpers.unique_topic("flagsprod")
    create_topic(group_broker.bootstrap, topic, partitions=1)
    reader = tmp_path / "reader.properties"
    reader.write_text("parse.key=true\n")
    produced = sh("kafka-console-producer.sh", *bs, "--topic", topic,
                  "--reader-config", str(reader), "--reader-property", "key.separator=:",
                  "--line-reader", "org.apache.kafka.tools.LineMessageReader",
                  "--command-property", "acks=all", "--max-block-ms", "5000",
                  "--max-memory-bytes", "1048576", "--max-partition-memory-bytes", "16384",
                  "--message-send-max-retries", "3", "--retry-backoff-ms", "100",
                  "--metadata-expiry-ms", "300000", "--socket-buffer-size", "102400",
                  "--compression-codec", input="k1:v1\nk2:v2\n")
    bare_codec = stored_codecs(group_broker.addr, topic)
    bad_reader = sh("kafka-console-producer.sh", *bs, "--topic", topic, "--line-reader", "com.example.CsvReader",
                    input="x\n")
    got = consume_confluent(group_broker.bootstrap, topic, 1, 2)[0]
    summary("tools-flags/console-producer: rc %d, records %r, codecs %r, notes %d lines"
            % (produced.returncode, [r[1:3] for r in got], bare_codec, len(produced.stderr.splitlines())))
    assert produced.returncode == 0, produced.stderr
    assert [r[1:3] for r in got] == [(b"k1", b"v1"), (b"k2", b"v2")]
    assert set(bare_codec) == {1}  # gzip, the bare flag's codec
    for flag in ("--max-block-ms", "--max-memory-bytes", "--message-send-max-retries", "--retry-backoff-ms",
                 "--metadata-expiry-ms", "--socket-buffer-size"):
        assert flag in produced.stderr
    assert bad_reader.returncode == 1 and "LineMessageReader" in bad_reader.stderr


# ---------------------------------------------------------------------------
# kafka-consumer-groups.sh
# ---------------------------------------------------------------------------

def test_consumer_groups_reset_by_time_file_and_delete_offsets(group_broker, sh, tmp_path):
    from clients import create_topic, produce_confluent
    bs = ["--bootstrap-server", group_broker.bootstrap]
    topic, group = helpers.unique_topic("flagstime"), "grp-" + helpers.unique_topic("flagstime")
    create_topic(group_broker.bootstrap, topic, partitions=2)
    t0 = helpers.now_ms() - 3_600_000  # an hour ago, record i at t0 + i seconds
    produce_confluent(group_broker.bootstrap, topic,
                      [Msg(i, 0, None, b"m%d" % i, [], t0 + i * 1000) for i in range(10)])
    commit(group_broker.bootstrap, group, topic, {0: 10, 1: 0})
    # Record 4 is at t0 + 4 s: a datetime between records 3 and 4 resets partition 0 to 4.
    at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime((t0 + 3500) // 1000)) + ".%03d" % ((t0 + 3500) % 1000)
    dt = sh("kafka-consumer-groups.sh", *bs, "--reset-offsets", "--group", group, "--topic", topic + ":0",
            "--to-datetime", at, "--execute")
    after_dt = committed(group_broker.bootstrap, group, topic, [0, 1])
    # The same instant written in +02:00.
    local = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime((t0 + 6500) // 1000 + 7200)) + ".%03d+02:00" % ((t0 + 6500) % 1000)
    dt_zone = sh("kafka-consumer-groups.sh", *bs, "--reset-offsets", "--group", group, "--topic", topic + ":0",
                 "--to-datetime", local, "--execute")
    after_zone = committed(group_broker.bootstrap, group, topic, [0])
    # Two hours back is before every record: the earliest offset.
    dur = sh("kafka-consumer-groups.sh", *bs, "--reset-offsets", "--group", group, "--topic", topic,
             "--by-duration", "PT2H", "--execute")
    after_dur = committed(group_broker.bootstrap, group, topic, [0, 1])
    exported = sh("kafka-consumer-groups.sh", *bs, "--reset-offsets", "--group", group, "--topic", topic,
                  "--to-latest", "--export", "--dry-run")
    plan = tmp_path / "plan.csv"
    plan.write_text("%s,0,7\n%s,1,0\n" % (topic, topic))
    from_file = sh("kafka-consumer-groups.sh", *bs, "--reset-offsets", "--group", group, "--from-file", str(plan),
                   "--execute")
    after_file = committed(group_broker.bootstrap, group, topic, [0, 1])
    bad_dt = sh("kafka-consumer-groups.sh", *bs, "--reset-offsets", "--group", group, "--topic", topic,
                "--to-datetime", "yesterday", "--dry-run")
    deleted = sh("kafka-consumer-groups.sh", *bs, "--delete-offsets", "--group", group, "--topic", topic + ":0")
    after_delete = committed(group_broker.bootstrap, group, topic, [0, 1])
    deleted_all = sh("kafka-consumer-groups.sh", *bs, "--delete-offsets", "--group", group, "--topic", topic)
    after_all = committed(group_broker.bootstrap, group, topic, [0, 1])
    summary("tools-flags/consumer-groups: --to-datetime %s -> %r, +02:00 -> %r, --by-duration PT2H -> %r, "
            "export %r, from-file -> %r, delete-offsets -> %r then %r"
            % (at, after_dt, after_zone, after_dur, exported.stdout.split(), after_file, after_delete, after_all))
    assert dt.returncode == 0, dt.stderr
    assert after_dt == {0: 4, 1: 0}
    assert dt_zone.returncode == 0 and after_zone == {0: 7}, dt_zone.stderr
    assert dur.returncode == 0 and after_dur == {0: 0, 1: 0}, dur.stderr
    assert exported.returncode == 0 and exported.stdout.split() == ["%s,0,10" % topic, "%s,1,0" % topic]
    assert from_file.returncode == 0 and after_file == {0: 7, 1: 0}, from_file.stderr
    assert bad_dt.returncode == 1 and "Error parsing timestamp" in bad_dt.stderr
    assert deleted.returncode == 0, deleted.stderr
    assert "Request succeeded for deleting offsets from group %s." % group in deleted.stdout
    assert after_delete[0] < 0 and after_delete[1] == 0
    assert deleted_all.returncode == 0 and all(o < 0 for o in after_all.values()), deleted_all.stdout


def test_consumer_groups_list_type_validate_regex_and_scope(group_broker, sh):
    bs = ["--bootstrap-server", group_broker.bootstrap]
    topic, group = helpers.unique_topic("flagslist"), "grp-" + helpers.unique_topic("flagslist")
    from clients import create_topic
    create_topic(group_broker.bootstrap, topic, partitions=1)
    commit(group_broker.bootstrap, group, topic, {0: 0})
    typed = sh("kafka-consumer-groups.sh", *bs, "--list", "--type")
    filtered = sh("kafka-consumer-groups.sh", *bs, "--list", "--type", "consumer")
    state = sh("kafka-consumer-groups.sh", *bs, "--list", "--state", "Empty", "--type", "classic")
    bad_type = sh("kafka-consumer-groups.sh", *bs, "--list", "--type", "share")
    valid = sh("kafka-consumer-groups.sh", "--validate-regex", "orders-.*")
    invalid = sh("kafka-consumer-groups.sh", "--validate-regex", "orders-(")
    no_action = sh("kafka-consumer-groups.sh", *bs)
    all_groups = sh("kafka-consumer-groups.sh", *bs, "--describe", "--all-groups", "--timeout", "5000",
                    "--command-config", "/dev/null")
    no_scope = sh("kafka-consumer-groups.sh", *bs, "--describe")
    delete_offsets_scope = sh("kafka-consumer-groups.sh", *bs, "--delete-offsets", "--group", group)
    row = [l for l in typed.stdout.splitlines() if l.startswith(group + " ")]
    summary("tools-flags/consumer-groups: --list --type %r, validate %r / %r"
            % (typed.stdout.splitlines()[:1] + row, valid.stdout.strip(), invalid.stdout.strip()))
    assert typed.returncode == 0 and typed.stdout.splitlines()[0].split() == ["GROUP", "TYPE"]
    assert len(row) == 1 and row[0].split() == [group, "Classic"]
    assert filtered.returncode == 0 and group not in filtered.stdout
    assert state.returncode == 0 and state.stdout.splitlines()[0].split() == ["GROUP", "TYPE", "STATE"]
    assert any(l.split() == [group, "Classic", "Empty"] for l in state.stdout.splitlines())
    assert bad_type.returncode == 1 and "Invalid types list" in bad_type.stderr
    assert valid.returncode == 0 and valid.stdout.strip() == "The regular expression `orders-.*` is valid."
    assert invalid.returncode == 0 and invalid.stdout.startswith("The regular expression `orders-(` is invalid")
    assert no_action.returncode == 1 and "Command must include exactly one action" in no_action.stderr
    assert all_groups.returncode == 0 and group in all_groups.stdout, all_groups.stderr
    assert no_scope.returncode == 1 and "takes one of these options" in no_scope.stderr
    assert delete_offsets_scope.returncode == 1 and "takes the following options" in delete_offsets_scope.stderr
