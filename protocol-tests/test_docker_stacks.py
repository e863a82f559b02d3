"""Compose files and container configurations written for apache/kafka, run against the gregor image.

- apache/kafka's own docker/examples (vendored verbatim under stacks/apache-kafka-examples/, only the
  image comes from ${IMAGE}): single-node/plaintext as published; single-node/file-input as published
  (refused: its file configures an SSL listener) and as a generated copy without the SSL lines;
- stacks/init-containers/compose.yml: `sh -c` / `bash -c` init containers with Kafka tool names;
- the configurations gregor refuses (one `gregor:` line naming the setting), with env from apache's files.

Needs a Docker engine and docker-compose, like test_docker.py; skipped with the reason elsewhere.
"""

import os
import re
import subprocess
import time

import pytest
import yaml
from confluent_kafka.admin import ConfigSource

import clients
import dockerlib
import helpers
from dockerlib import APACHE_EXAMPLES, STACKS_DIR
from helpers import summary

EXAMPLES = os.path.join(APACHE_EXAMPLES, "docker-compose-files")
SINGLE_PLAINTEXT = os.path.join(EXAMPLES, "single-node", "plaintext", "docker-compose.yml")
SINGLE_FILE_INPUT = os.path.join(EXAMPLES, "single-node", "file-input", "docker-compose.yml")
SINGLE_SSL = os.path.join(EXAMPLES, "single-node", "ssl", "docker-compose.yml")
CLUSTER_COMBINED = os.path.join(EXAMPLES, "cluster", "combined", "plaintext", "docker-compose.yml")
CLUSTER_ISOLATED = os.path.join(EXAMPLES, "cluster", "isolated", "plaintext", "docker-compose.yml")
FILE_INPUT_PROPS = os.path.join(APACHE_EXAMPLES, "fixtures", "file-input", "server.properties")
SECRETS = os.path.join(APACHE_EXAMPLES, "fixtures", "secrets")
INIT_CONTAINERS = os.path.join(STACKS_DIR, "init-containers", "compose.yml")


@pytest.fixture(scope="module")
def image():
    return dockerlib.build_image()


@pytest.fixture
def stacks(image):
    """make(file, env) -> Stack with IMAGE set; every stack is taken down (with its volumes) afterwards."""
    made = []

    def make(compose_file, env=None):
        s = dockerlib.Stack(compose_file, env=dict(IMAGE=image, **(env or {})))
        made.append(s)
        return s

    yield make
    for s in made:
        s.down()


def _up_until_ready(stack, service, bootstrap):
    """`up -d`, then seconds until the broker answers over `bootstrap` (these files have no healthcheck)."""
    t0 = time.time()
    stack.compose("up", "-d")
    cid = stack.container(service)
    try:
        dockerlib.wait_bootstrap(bootstrap)
    except AssertionError as e:
        raise AssertionError("%s\ncontainer log:\n%s" % (e, dockerlib.logs(cid)[-3000:]))
    return time.time() - t0


# ---------------------------------------------------------------------------
# apache/kafka docker/examples, as published
# ---------------------------------------------------------------------------

def test_apache_single_node_plaintext_as_published(stacks):
    dockerlib.require_free(ports=[9092], container_names=["broker"])
    s = stacks(SINGLE_PLAINTEXT)
    ready_s = _up_until_ready(s, "broker", "localhost:9092")
    n = dockerlib.produce_consume("localhost:9092", "apache-plaintext", 300, partitions=1)
    md = clients.ck_admin("localhost:9092").list_topics(timeout=10)
    assert ["%s:%d" % (b.host, b.port) for b in md.brokers.values()] == ["localhost:9092"]
    summary("apache examples single-node/plaintext (published file, IMAGE=gregor): answered on localhost:9092 "
            "%.1fs after `up`; %d records produced and %d consumed" % (ready_s, n, n))


def test_apache_single_node_file_input_as_published_refuses_the_ssl_listener(stacks):
    dockerlib.require_free(ports=[9092, 9093], container_names=["broker"])
    s = stacks(SINGLE_FILE_INPUT)
    t0 = time.time()
    s.compose("up", "-d")
    cid = s.container("broker")
    rc = dockerlib.wait_exit(cid)
    took = time.time() - t0
    log = dockerlib.logs(cid)
    assert rc != 0, "the SSL listener must stop the start; log:\n%s" % log[-3000:]
    lines = dockerlib.gregor_lines(log)
    assert len(lines) == 1, "want one `gregor:` line, got %r; log:\n%s" % (lines, log[-3000:])
    assert "SSL" in lines[0] and "listener" in lines[0].lower(), lines[0]
    summary("apache examples single-node/file-input (published, SSL://:9093 with JKS keystores): refused, "
            "exit %d after %.1fs: %s" % (rc, took, lines[0]))


def _file_input_without_ssl(tmp):
    """A copy of file-input's compose file and fixture with only the SSL listener and ssl.* lines removed."""
    fixture = os.path.join(tmp, "fixtures", "file-input")
    os.makedirs(fixture)
    kept = []
    with open(FILE_INPUT_PROPS) as f:
        for line in f:
            if line.startswith("ssl."):
                continue
            if line.startswith("advertised.listeners="):
                line = line.replace(",SSL://localhost:9093", "")
            if line.startswith("listener.security.protocol.map="):
                line = line.replace(",SSL:SSL", "")
            kept.append(line)
    props = "".join(kept)
    assert "SSL" not in props and "group.initial.rebalance.delay.ms=0" in props, props
    with open(os.path.join(fixture, "server.properties"), "w") as f:
        f.write(props)
    os.chmod(tmp, 0o755)
    for d in (os.path.join(tmp, "fixtures"), fixture):
        os.chmod(d, 0o755)

    with open(SINGLE_FILE_INPUT) as f:
        doc = yaml.safe_load(f)
    broker = doc["services"]["broker"]
    broker["ports"] = [p for p in broker["ports"] if not p.startswith("9093")]
    broker["volumes"] = ["%s:/mnt/shared/config" % fixture]
    broker["environment"]["KAFKA_LISTENERS"] = broker["environment"]["KAFKA_LISTENERS"].replace(",SSL://:9093", "")
    path = os.path.join(tmp, "docker-compose.yml")
    with open(path, "w") as f:
        yaml.safe_dump(doc, f)
    return path


def test_apache_single_node_file_input_without_ssl_reads_the_file(stacks, tmp_path):
    dockerlib.require_free(ports=[9092], container_names=["broker"])
    # The generated project stays on disk until the fixture has run `down` on it.
    s = stacks(_file_input_without_ssl(str(tmp_path)))
    ready_s = _up_until_ready(s, "broker", "localhost:9092")
    entries = dockerlib.broker_config("localhost:9092")
    delay = entries["group.initial.rebalance.delay.ms"]
    source = delay.source.value if hasattr(delay.source, "value") else int(delay.source)
    assert (delay.value, source) == ("0", ConfigSource.STATIC_BROKER_CONFIG.value), (delay.value, source)
    # advertised.listeners comes from the file only: the host must be told localhost:9092.
    md = clients.ck_admin("localhost:9092").list_topics(timeout=10)
    assert ["%s:%d" % (b.host, b.port) for b in md.brokers.values()] == ["localhost:9092"]
    n = dockerlib.produce_consume("localhost:9092", "apache-file-input", 200, partitions=1)
    summary("apache examples single-node/file-input without its SSL lines: answered %.1fs after `up`; "
            "group.initial.rebalance.delay.ms=0 from the mounted file is STATIC_BROKER_CONFIG; advertised "
            "localhost:9092 from the file; %d records produced and consumed" % (ready_s, n))


# ---------------------------------------------------------------------------
# Init containers with Kafka tool names
# ---------------------------------------------------------------------------

def test_init_containers_with_kafka_tool_names(stacks):
    port = helpers.free_port()
    s = stacks(INIT_CONTAINERS, env=dict(HOST_PORT=str(port)))
    t0 = time.time()
    # `up -d` returns once every container is created; `check` is created after both init containers ended.
    up = s.compose("up", "-d", timeout=240, check=False)
    assert up.returncode == 0, "docker-compose up failed:\n%s\n--- kafka log:\n%s" % (up.stderr, s.logs("kafka")[-3000:])
    healthy_s = dockerlib.wait_healthy(s.container("kafka"))
    codes = {}
    for svc in ("init-apache", "init-cp", "check"):
        codes[svc] = dockerlib.wait_exit(s.container(svc), timeout=dockerlib.READY_TIMEOUT_S)
    done_s = time.time() - t0
    logs = {svc: s.logs(svc) for svc in codes}
    assert codes == {"init-apache": 0, "init-cp": 0, "check": 0}, "exit codes %r; logs:\n%s" % (
        codes, "\n".join("--- %s\n%s" % kv for kv in logs.items()))
    assert "PartitionCount: 3" in logs["init-apache"], logs["init-apache"]
    assert "Created notifications" in logs["init-cp"], logs["init-cp"]
    listed = set(logs["check"].split())
    assert {"orders", "payments", "notifications"} <= listed, logs["check"]

    bootstrap = "localhost:%d" % port
    assert clients.topic_partitions(bootstrap, "orders") == 3
    assert clients.topic_partitions(bootstrap, "payments") == 1
    assert clients.topic_partitions(bootstrap, "notifications") == 2
    n = dockerlib.produce_consume(bootstrap, "orders", 300, partitions=3)
    summary("stacks/init-containers: broker healthy (nc -z) %.1fs after `up`; init-apache (sh -c, "
            "kafka-topics.sh, first --list retried until reachable), init-cp (cub kafka-ready, kafka-topics) "
            "and check exited 0 within %.1fs; %d records produced and consumed over %s"
            % (healthy_s, done_s, n, bootstrap))


# ---------------------------------------------------------------------------
# Refusals, with env from apache's own files
# ---------------------------------------------------------------------------

REFUSALS = [
    # (id, compose file, service, extra docker args, regex the one gregor: line must match)
    ("ssl-listener", SINGLE_SSL, "broker", ["-v", "%s:/etc/kafka/secrets:ro" % SECRETS], r".*SSL.*"),
    ("three-voters", CLUSTER_COMBINED, "kafka-1", [], r".*controller\.quorum\.voters.*"),
    ("controller-only", CLUSTER_ISOLATED, "controller-1", [], r".*process\.roles.*"),
]


@pytest.mark.parametrize("case", REFUSALS, ids=[c[0] for c in REFUSALS])
def test_refused_configurations_exit_with_one_line(image, case):
    name, path, service, extra, want = case
    env = dockerlib.compose_env(path, service)
    args = ["--hostname", service] + extra
    for k, v in env.items():
        args += ["-e", "%s=%s" % (k, v)]
    t0 = time.time()
    cid = dockerlib.docker_run(*args, image)
    try:
        rc = dockerlib.wait_exit(cid)
        took = time.time() - t0
        log = dockerlib.logs(cid)
        assert rc != 0, "%s must be refused; log:\n%s" % (name, log[-3000:])
        lines = dockerlib.gregor_lines(log)
        assert len(lines) == 1, "want one `gregor:` line, got %r; log:\n%s" % (lines, log[-3000:])
        assert re.fullmatch(want, lines[0]), "%r does not name the setting (%s)" % (lines[0], want)
        summary("docker refusal %s (env of %s/%s): exit %d after %.1fs: %s"
                % (name, os.path.relpath(path, EXAMPLES), service, rc, took, lines[0]))
    finally:
        dockerlib.remove(cid)
