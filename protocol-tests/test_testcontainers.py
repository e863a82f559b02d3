"""testcontainers' Kafka modules, run against the gregor image.

- testcontainers-python (PyPI, pinned in requirements.txt): `KafkaContainer(image)` in its default
  ZooKeeper-mode flow and with `.with_kraft()`, through the library itself;
- testcontainers-java (`org.testcontainers.kafka.KafkaContainer` and `ConfluentKafkaContainer`) and the
  testcontainers-go kafka module, whose flows are reproduced step by step through the Docker engine (the
  docker SDK testcontainers-python brings): the same env, command, entrypoint, starter script (content,
  path and mode as the modules write it, copied in after start) and log wait regex. Read from
  testcontainers-java deb78e1 (modules/kafka/.../kafka/KafkaHelper.java, KafkaContainer.java,
  ConfluentKafkaContainer.java) and testcontainers-go 5dec9dd (modules/kafka/kafka.go).

No image can be pulled here, so Ryuk (testcontainers' reaper, an image of its own) is disabled with
TESTCONTAINERS_RYUK_DISABLED=true and every test removes its container itself. The Docker engine runs on
this machine, so published ports are reached on localhost: TC_HOST=localhost unless set (inside a
container testcontainers would otherwise pick the default gateway).
"""

import io
import os
import tarfile
import time

import pytest

import dockerlib
from dockerlib import LABEL, TC_IMAGE
from helpers import summary

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
os.environ.setdefault("TC_HOST", "localhost")
os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")

#: Host the Java and Go modules would report for a local engine (see the module doc).
HOST = os.environ["TC_HOST"]
#: Longest a testcontainers flow may take to log its ready line, in seconds (Java's default is 60 s).
STARTUP_TIMEOUT_S = 60
#: Records each flow produces and reads back.
RECORDS = 200


@pytest.fixture(scope="module")
def tc_image():
    dockerlib.build_image()
    return TC_IMAGE


@pytest.fixture(scope="module")
def docker_client(tc_image):
    docker = pytest.importorskip("docker")
    client = docker.from_env()
    yield client
    client.close()


# ---------------------------------------------------------------------------
# testcontainers-python, the library itself
# ---------------------------------------------------------------------------

def _python_flow(image, kraft):
    from testcontainers.community.kafka import KafkaContainer

    kafka = KafkaContainer(image)
    if kraft:
        kafka = kafka.with_kraft()
    kafka.with_kwargs(labels={LABEL: "testcontainers-python"})
    t0 = time.time()
    try:
        kafka.start(timeout=STARTUP_TIMEOUT_S)
        ready_s = time.time() - t0
        bootstrap = kafka.get_bootstrap_server()
        n = dockerlib.produce_consume(bootstrap, "tc-python-%s" % ("kraft" if kraft else "zk"), RECORDS)
        return ready_s, bootstrap, n
    except Exception:
        c = kafka.get_wrapped_container()
        if c is not None:
            print(dockerlib.logs(c.id)[-3000:])
        raise
    finally:
        if kafka.get_wrapped_container() is not None:
            kafka.stop()


def test_testcontainers_python_default_zookeeper_flow(tc_image):
    ready_s, bootstrap, n = _python_flow(tc_image, kraft=False)
    summary("testcontainers-python %s KafkaContainer(%s) (ZooKeeper-mode flow, waits for `[KafkaServer id=N] "
            "started`): ready %.1fs after start; %d records produced and consumed over %s"
            % (_tc_version(), tc_image, ready_s, n, bootstrap))


def test_testcontainers_python_with_kraft(tc_image):
    # with_kraft() parses the tag as a Confluent Platform version and refuses < 7.0.0: hence gregor-tc:7.9.0.
    ready_s, bootstrap, n = _python_flow(tc_image, kraft=True)
    summary("testcontainers-python %s KafkaContainer(%s).with_kraft() (waits for `Kafka Server started`): "
            "ready %.1fs after start; %d records produced and consumed over %s"
            % (_tc_version(), tc_image, ready_s, n, bootstrap))


def _tc_version():
    from importlib.metadata import version
    return version("testcontainers")


# ---------------------------------------------------------------------------
# testcontainers-java and testcontainers-go, reproduced
# ---------------------------------------------------------------------------

def _java_string_hash(s):
    h = 0
    for ch in s:
        h = (31 * h + ord(ch)) & 0xFFFFFFFF
    return h


def _java_hash_set_order(items):
    """Iteration order of a java.util.HashSet holding `items` (fewer than 13: 16 buckets, no resize).

    testcontainers-java rebuilds KAFKA_LISTENERS and the protocol map through HashSets, so the order the
    broker sees is this one, not the order in KafkaHelper's source."""
    buckets = {}
    for item in items:
        h = _java_string_hash(item)
        buckets.setdefault((h ^ (h >> 16)) & 15, []).append(item)
    return [item for b in sorted(buckets) for item in buckets[b]]


JAVA_ENV = {
    "CLUSTER_ID": "4L6g3nShT-eMCtK--X86sw",
    "KAFKA_LISTENERS": ",".join(_java_hash_set_order(
        "PLAINTEXT://0.0.0.0:9092,BROKER://0.0.0.0:9093,CONTROLLER://0.0.0.0:9094".split(","))),
    "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": ",".join(_java_hash_set_order(
        "BROKER:PLAINTEXT,PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT".split(","))),
    "KAFKA_INTER_BROKER_LISTENER_NAME": "BROKER",
    "KAFKA_PROCESS_ROLES": "broker,controller",
    "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
    "KAFKA_NODE_ID": "1",
    "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9094",
    "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
    "KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS": "1",
    "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
    "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
    "KAFKA_LOG_FLUSH_INTERVAL_MESSAGES": "9223372036854775807",  # Long.MAX_VALUE
    "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
}
JAVA_SCRIPT = "/tmp/testcontainers_start.sh"
JAVA_COMMAND = ["sh", "-c", "while [ ! -f %s ]; do sleep 0.1; done; %s" % (JAVA_SCRIPT, JAVA_SCRIPT)]

GO_LISTENERS = "PLAINTEXT://0.0.0.0:9093,BROKER://0.0.0.0:9092,CONTROLLER://0.0.0.0:9094"
GO_ENV = {
    "KAFKA_LISTENERS": GO_LISTENERS,
    "KAFKA_REST_BOOTSTRAP_SERVERS": GO_LISTENERS,
    "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "BROKER:PLAINTEXT,PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    "KAFKA_INTER_BROKER_LISTENER_NAME": "BROKER",
    "KAFKA_BROKER_ID": "1",
    "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
    "KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS": "1",
    "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
    "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
    "KAFKA_LOG_FLUSH_INTERVAL_MESSAGES": "9223372036854775807",  # math.MaxInt on 64-bit
    "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
    "KAFKA_NODE_ID": "1",
    "KAFKA_PROCESS_ROLES": "broker,controller",
    "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
    # configureControllerQuorumVoters(): no network given, so localhost.
    "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9094",
}
GO_SCRIPT = "/usr/sbin/testcontainers_start.sh"
GO_SCRIPT_TEMPLATE = """#!/bin/bash
source /etc/confluent/docker/bash-config
export KAFKA_ADVERTISED_LISTENERS=%s,BROKER://%s:9092
echo Starting Kafka KRaft mode
sed -i '/KAFKA_ZOOKEEPER_CONNECT/d' /etc/confluent/docker/configure
echo 'kafka-storage format --ignore-formatted -t "$(kafka-storage random-uuid)" -c /etc/kafka/kafka.properties' >> /etc/confluent/docker/configure
echo '' > /etc/confluent/docker/ensure
/etc/confluent/docker/configure
/etc/confluent/docker/launch"""

READY_REGEX = ".*Transitioning from RECOVERY to RUNNING.*"


def _copy_file(container, path, content, mode):
    """What both libraries do: a one-entry tar (path without its leading /, the given mode) put at /."""
    data = content.encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(path.lstrip("/"))
        info.size = len(data)
        info.mode = mode
        info.mtime = int(time.time())
        tar.addfile(info, io.BytesIO(data))
    assert container.put_archive("/", buf.getvalue())


def _mapped_port(container, port):
    deadline = time.time() + 30
    while time.time() < deadline:
        container.reload()
        bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get("%d/tcp" % port)
        if bindings:
            return int(bindings[0]["HostPort"])
        time.sleep(0.1)
    raise AssertionError("no host port mapped for %d/tcp" % port)


def _run_flow(client, image, flavour, env, exposed, script_path, script_for, mode, entrypoint=None,
              command=None):
    """Create and start the container, copy the starter script in, wait for the ready line, produce and consume."""
    kwargs = dict(environment=env, ports={"%d/tcp" % exposed: None}, labels={LABEL: flavour}, detach=True)
    if entrypoint is not None:
        kwargs["entrypoint"] = entrypoint
    container = client.containers.create(image, command=command, **kwargs)
    try:
        t0 = time.time()
        container.start()
        port = _mapped_port(container, exposed)
        hostname = container.attrs["Config"]["Hostname"]
        _copy_file(container, script_path, script_for(port, hostname), mode)
        dockerlib.wait_log(container.id, READY_REGEX, STARTUP_TIMEOUT_S)
        ready_s = time.time() - t0
        bootstrap = "%s:%d" % (HOST, port)
        n = dockerlib.produce_consume(bootstrap, "tc-%s" % flavour, RECORDS)
        return ready_s, bootstrap, n
    finally:
        container.remove(force=True, v=True)


def _java_script(last_line):
    def script(port, hostname):
        advertised = "PLAINTEXT://%s:%d,BROKER://%s:9093" % (HOST, port, hostname)
        return "#!/bin/bash\nexport KAFKA_ADVERTISED_LISTENERS=%s\n%s \n" % (advertised, last_line)
    return script


def test_testcontainers_java_kafka_container_flow(docker_client, tc_image):
    # Java needs DockerImageName.parse("gregor...").asCompatibleSubstituteFor("apache/kafka") for this class.
    ready_s, bootstrap, n = _run_flow(
        docker_client, tc_image, "java-apache", JAVA_ENV, 9092, JAVA_SCRIPT,
        _java_script("/etc/kafka/docker/run"), 0o777, command=JAVA_COMMAND)
    summary("testcontainers-java org.testcontainers.kafka.KafkaContainer flow (sh -c wait loop, "
            "/tmp/testcontainers_start.sh 0777 -> /etc/kafka/docker/run, KAFKA_LISTENERS=%s): ready line %.1fs "
            "after start; %d records produced and consumed over %s"
            % (JAVA_ENV["KAFKA_LISTENERS"], ready_s, n, bootstrap))


def test_testcontainers_java_confluent_kafka_container_flow(docker_client, tc_image):
    ready_s, bootstrap, n = _run_flow(
        docker_client, tc_image, "java-confluent", JAVA_ENV, 9092, JAVA_SCRIPT,
        _java_script("/etc/confluent/docker/run"), 0o777, command=JAVA_COMMAND)
    summary("testcontainers-java ConfluentKafkaContainer flow (-> /etc/confluent/docker/run): ready line %.1fs "
            "after start; %d records produced and consumed over %s" % (ready_s, n, bootstrap))


def test_testcontainers_go_kafka_module_flow(docker_client, tc_image):
    def script(port, hostname):
        return GO_SCRIPT_TEMPLATE % ("PLAINTEXT://%s:%d" % (HOST, port), hostname)

    cmd = ["-c", "while [ ! -f %s ]; do sleep 0.1; done; bash %s" % (GO_SCRIPT, GO_SCRIPT)]
    ready_s, bootstrap, n = _run_flow(
        docker_client, tc_image, "go", GO_ENV, 9093, GO_SCRIPT, script, 0o755, entrypoint=["sh"], command=cmd)
    summary("testcontainers-go kafka module flow (entrypoint sh, bash /usr/sbin/testcontainers_start.sh 0755, "
            "kafka-storage random-uuid, confluent configure/launch): ready line %.1fs after start; %d records "
            "produced and consumed over %s" % (ready_s, n, bootstrap))
