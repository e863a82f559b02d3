"""Configuration files written for Kafka 4 start gregor unchanged (issue 15).

The files are the projects' own, vendored verbatim under
stacks/kafka-configs/ (see its README): Kafka 4.1's config/server.properties
started the way Kafka's quickstart starts it (`kafka-server-start.sh
config/server.properties`, with `--override` for the ports and directory this
test may use), and kafka-python's Kafka 4.0 broker template filled in as
kafka-python's own test fixture fills it. Both list the controller listener in
advertised.listeners (Kafka 3.9+), which used to stop the start. Kafka 4.1's
config/broker.properties (a broker-only node that needs separate
controllers) must be refused with a message naming process.roles.
"""

import os
import subprocess
import time

import pytest

import helpers
from helpers import summary

CONFIGS = os.path.join(helpers.REPO_ROOT, "protocol-tests", "stacks", "kafka-configs")


def _binary():
    return os.environ.get("GREGOR_BIN", helpers.DEFAULT_BIN)


def _server_start(tmp_path):
    link = tmp_path / "kafka-server-start.sh"
    if not link.exists():
        os.symlink(os.path.abspath(_binary()), link)
    return str(link)


def _run_until_ready(cmd, port, log_path, timeout_s=20):
    log = open(log_path, "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.time() + timeout_s
    while True:
        if proc.poll() is not None:
            log.close()
            raise AssertionError("exited %s:\n%s" % (proc.returncode, open(log_path).read()[-3000:]))
        try:
            if helpers.api_versions_addr(("127.0.0.1", port), 0, timeout=1.0).error_code == 0:
                return proc, log
        except (OSError, ValueError, ConnectionError, AssertionError):
            pass
        assert time.time() < deadline, open(log_path).read()[-3000:]
        time.sleep(0.1)


def _stop(proc, log):
    proc.terminate()
    try:
        assert proc.wait(20) == 0
    finally:
        log.close()


def _produce_consume(bootstrap, topic, n):
    from kafka import KafkaConsumer, KafkaProducer
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for i in range(n):
        producer.send(topic, key=b"k%d" % i, value=b"v%d" % i)
    producer.flush(30)
    producer.close()
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             group_id="g-" + topic, consumer_timeout_ms=10000)
    got = [m.value for m in consumer]
    consumer.close()
    return got


def _broker_config(bootstrap, node_id, names):
    from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType
    admin = AdminClient({"bootstrap.servers": bootstrap})
    res = ConfigResource(ResourceType.BROKER, str(node_id))
    entries = admin.describe_configs([res])[res].result(timeout=20)
    return {n: (entries[n].value, entries[n].source) for n in names if n in entries}


def test_kafka_41_quickstart_server_properties(tmp_path):
    port, controller = helpers.free_port(), helpers.free_port()
    cmd = [_server_start(tmp_path), os.path.join(CONFIGS, "kafka-4.1-server.properties"),
           "--override", "listeners=PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d" % (port, controller),
           "--override", "advertised.listeners=PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d"
           % (port, controller),
           "--override", "controller.quorum.bootstrap.servers=127.0.0.1:%d" % controller,
           "--override", "log.dirs=%s" % (tmp_path / "kraft-combined-logs")]
    proc, log = _run_until_ready(cmd, port, tmp_path / "broker.log")
    try:
        topic = helpers.unique_topic("quickstart")
        got = _produce_consume("127.0.0.1:%d" % port, topic, 50)
        configs = _broker_config("127.0.0.1:%d" % port, 1, ["socket.send.buffer.bytes", "log.retention.hours"])
    finally:
        _stop(proc, log)
    text = open(tmp_path / "broker.log").read()
    summary("kafka-4.1 config/server.properties via kafka-server-start.sh: %d of 50 records back; %r"
            % (len(got), configs))
    assert len(got) == 50
    assert configs["socket.send.buffer.bytes"][0] == "102400"
    assert "neither gregor nor Kafka 4.1 knows" not in text, text


def test_kafka_python_kafka4_fixture_config(tmp_path):
    port, controller = helpers.free_port(), helpers.free_port()
    template = open(os.path.join(CONFIGS, "kafka-python-4.0.0-kafka.properties")).read()
    filled = template.format(broker_id=0, controller_bootstrap_host="127.0.0.1", controller_port=controller,
                             transport="PLAINTEXT", host="127.0.0.1", port=port, sasl_config="",
                             tmp_dir=str(tmp_path), partitions=2, replicas=1)
    cfg = tmp_path / "kafka.properties"
    cfg.write_text(filled)
    proc, log = _run_until_ready([_server_start(tmp_path), str(cfg)], port, tmp_path / "broker.log")
    try:
        topic = helpers.unique_topic("kpy4")
        got = _produce_consume("127.0.0.1:%d" % port, topic, 40)
        configs = _broker_config("127.0.0.1:%d" % port, 0,
                                 ["log.cleaner.enable", "num.partitions", "authorizer.class.name"])
    finally:
        _stop(proc, log)
    text = open(tmp_path / "broker.log").read()
    summary("kafka-python Kafka 4.0 fixture config: %d of 40 records back; %r" % (len(got), configs))
    assert len(got) == 40
    assert configs["log.cleaner.enable"][0] == "false"
    assert configs["num.partitions"][0] == "2"
    assert "neither gregor nor Kafka 4.1 knows" not in text, text


def test_kafka_41_broker_only_config_is_refused(tmp_path):
    r = subprocess.run([_server_start(tmp_path), os.path.join(CONFIGS, "kafka-4.1-broker.properties"),
                        "--override", "log.dirs=%s" % (tmp_path / "logs")],
                       capture_output=True, text=True, timeout=30)
    summary("kafka-4.1 config/broker.properties: exit %d: %s" % (r.returncode, r.stderr.strip()[:200]))
    assert r.returncode == 2
    assert "process.roles: node 2 is a broker only" in r.stderr, r.stderr


def test_delete_topic_enable_false_refuses_deletion(broker_factory):
    from confluent_kafka.admin import AdminClient, NewTopic
    from confluent_kafka import KafkaError
    b = broker_factory(overrides={"delete.topic.enable": "false"})
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    topic = helpers.unique_topic("nodelete")
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=20)
    with pytest.raises(Exception) as err:
        admin.delete_topics([topic])[topic].result(timeout=20)
    code = err.value.args[0].code()
    summary("delete.topic.enable=false: DeleteTopics -> %s" % err.value.args[0].name())
    assert code == KafkaError.TOPIC_DELETION_DISABLED
    assert topic in admin.list_topics(timeout=10).topics


def test_several_log_dirs_are_refused(tmp_path):
    r = subprocess.run([_binary(), "--override", "log.dirs=%s,%s" % (tmp_path / "a", tmp_path / "b"),
                        "--override", "listeners=PLAINTEXT://127.0.0.1:%d" % helpers.free_port()],
                       capture_output=True, text=True, timeout=30)
    summary("log.dirs with two directories: exit %d: %s" % (r.returncode, r.stderr.strip()[:160]))
    assert r.returncode == 2
    assert r.stderr.startswith("gregor: log.dirs: 2 directories are listed"), r.stderr
