"""The container image and the example compose stacks in docker/.

Needs a Docker engine and docker-compose (the project's machines have both);
elsewhere the module is skipped with the reason. The image is built from the
static binary under test (GREGOR_BIN) by docker/build-image.sh, each stack is
brought up with `docker-compose up`, waited on through its healthcheck, used
from the host over the published port and from a second container over the
internal listener, then taken down and brought up again on the same volume.
"""

import json
import os
import subprocess
import time

import pytest

import clients
import dockerlib
import helpers
from helpers import summary

from dockerlib import IMAGE, LABEL

#: Longest a stack may take to report healthy, in seconds (not a performance figure).
HEALTHY_TIMEOUT_S = dockerlib.READY_TIMEOUT_S


@pytest.fixture(scope="module")
def image():
    return dockerlib.build_image()


def test_image_size_under_target(image):
    size = dockerlib.image_size()
    assert size < dockerlib.MAX_IMAGE_BYTES, "image is %d bytes, over the %d-byte target" % (
        size, dockerlib.MAX_IMAGE_BYTES)


class Stack(dockerlib.Stack):
    """One of docker/'s compose files on a free host port (GREGOR_IMAGE, GREGOR_PORT)."""

    def __init__(self, compose_file, image):
        self.port = helpers.free_port()
        super().__init__(os.path.join(dockerlib.DOCKER_DIR, compose_file),
                         env=dict(GREGOR_IMAGE=image, GREGOR_PORT=str(self.port)))

    @property
    def bootstrap(self):
        return "localhost:%d" % self.port

    def wait_healthy(self, service="kafka"):
        return dockerlib.wait_healthy(self.container(service), HEALTHY_TIMEOUT_S)


@pytest.fixture
def stack_factory(image):
    made = []

    def make(compose_file):
        s = Stack(compose_file, image)
        made.append(s)
        return s

    yield make
    for s in made:
        s.down()


def _produce_and_check(bootstrap, topic, n, partitions):
    msgs = helpers.make_messages(n, partitions=partitions, tag=topic)
    delivered = clients.produce_confluent(bootstrap, topic, msgs)
    got = clients.consume_confluent(bootstrap, topic, partitions, n)
    helpers.verify_consumed(msgs, delivered, got, "docker %s" % topic)
    return msgs, delivered


def test_single_node_stack_survives_down_and_up_on_its_volume(stack_factory):
    s = stack_factory("compose.yml")
    t0 = time.time()
    s.compose("up", "-d")
    s.wait_healthy()
    healthy_s = time.time() - t0
    # Auto-created by the producer's Metadata request, with KAFKA_NUM_PARTITIONS=3 from the environment.
    topic = "docker-single"
    msgs, delivered = _produce_and_check(s.bootstrap, topic, 300, 3)
    assert clients.topic_partitions(s.bootstrap, topic) == 3
    md = clients.ck_admin(s.bootstrap).list_topics(timeout=10)
    brokers = ["%s:%d" % (b.host, b.port) for b in md.brokers.values()]
    assert brokers == [s.bootstrap], "host clients must be told the published address: %r" % brokers

    # Remove the container (and the image's anonymous volumes, which `down` would leave behind), keep the
    # named data volume, start a new container on it.
    s.compose("rm", "-f", "-s", "-v")
    s.compose("up", "-d")
    s.wait_healthy()
    got = clients.consume_confluent(s.bootstrap, topic, 3, len(msgs))
    helpers.verify_consumed(msgs, delivered, got, "docker single after down/up")
    summary("docker/compose.yml: healthy %.1fs after `up`; 300 records produced from the host, all read back "
            "after `down` + `up` on the same volume" % healthy_s)


def test_internal_and_external_listeners_with_init_container(stack_factory):
    s = stack_factory("compose.internal.yml")
    s.compose("up", "-d")
    s.wait_healthy()
    init = s.container("init-topics")
    rc = subprocess.run(["docker", "wait", init], capture_output=True, text=True, timeout=120).stdout.strip()
    init_logs = s.compose("logs", "--no-color", "init-topics").stdout
    assert rc == "0", "init container exited %s:\n%s" % (rc, init_logs)
    assert "orders" in init_logs and "PartitionCount: 3" in init_logs, init_logs

    # The image's healthcheck command probes the first configured listener (INTERNAL, 29092).
    health = s.compose("exec", "-T", "kafka", "gregor", "health").stdout.strip()
    assert health.startswith("localhost:29092 is up"), health

    # The host sees the EXTERNAL address; auto-creation is off, so the topic came from the init container.
    md = clients.ck_admin(s.bootstrap).list_topics(timeout=10)
    assert ["%s:%d" % (b.host, b.port) for b in md.brokers.values()] == [s.bootstrap]
    assert len(md.topics["orders"].partitions) == 3

    # A second container produces and consumes over INTERNAL (kafka:29092):
    # the tools follow Metadata, which must name kafka:29092 to them.
    lines = ["k%d:internal-%d" % (i, i) for i in range(20)]
    s.compose("run", "--rm", "-T", "client", "kafka-console-producer.sh", "--bootstrap-server", "kafka:29092",
              "--topic", "orders", "--property", "parse.key=true", "--property", "key.separator=:",
              input="\n".join(lines) + "\n")
    out = s.compose("run", "--rm", "-T", "client", "kafka-console-consumer.sh", "--bootstrap-server",
                    "kafka:29092", "--topic", "orders", "--from-beginning", "--max-messages", "20",
                    "--property", "print.key=true", "--property", "key.separator=:",
                    "--timeout-ms", "20000").stdout
    assert sorted(out.split()) == sorted(lines), out

    # The host reads the same records over EXTERNAL.
    got = clients.consume_confluent(s.bootstrap, "orders", 3, 20)
    host_lines = sorted("%s:%s" % (k.decode(), v.decode()) for p in got.values() for (_, k, v, _, _) in p)
    assert host_lines == sorted(lines)
    summary("docker/compose.internal.yml: init container created orders (3 partitions) over kafka:29092; "
            "20 records produced and consumed by a second container over INTERNAL, read from the host "
            "over EXTERNAL %s" % s.bootstrap)


# ---------------------------------------------------------------------------
# The image as apache/kafka users meet it: config, tools, shell, env spellings.
# ---------------------------------------------------------------------------

def _run_out(image, *cmd, timeout=60):
    r = subprocess.run(["docker", "run", "--rm", "--label", LABEL, image, *cmd], capture_output=True,
                       text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def test_image_config_matches_apache_kafka(image):
    cfg = json.loads(subprocess.check_output(["docker", "image", "inspect", "-f", "{{json .Config}}", image]))
    assert cfg["Cmd"] == ["/etc/kafka/docker/run"], cfg["Cmd"]
    assert cfg["User"].split(":")[0] in ("1000", "appuser"), cfg["User"]
    assert set(cfg.get("Volumes") or {}) == {"/etc/kafka/secrets", "/var/lib/kafka/data", "/mnt/shared/config"}, \
        cfg.get("Volumes")
    assert "9092/tcp" in (cfg.get("ExposedPorts") or {}), cfg.get("ExposedPorts")
    # USER 1000 must resolve to a name, as apache's `run` prints `id` first.
    rc, out, err = _run_out(image, "id")
    assert rc == 0 and out.startswith("uid=1000"), (rc, out, err)
    summary("docker: image config Cmd=%s User=%s Volumes=%s; %d bytes"
            % (cfg["Cmd"], cfg["User"], sorted(cfg["Volumes"]), dockerlib.image_size()))


def test_tool_script_and_bash_run_through_the_entrypoint(image):
    rc, out, err = _run_out(image, "/opt/kafka/bin/kafka-topics.sh", "--version")
    assert rc == 0, (rc, out, err)
    assert out.strip().startswith("4.1.0"), out
    rc, out, err = _run_out(image, "bash", "-c", "echo ok")
    assert (rc, out) == (0, "ok\n"), (rc, out, err)
    # A cp-style bare tool name on PATH, as exec-form healthchecks call it.
    rc, out, err = _run_out(image, "kafka-topics", "--version")
    assert rc == 0 and out.strip().startswith("4.1.0"), (rc, out, err)
    summary("docker: `kafka-topics.sh --version`, `kafka-topics --version` and `bash -c 'echo ok'` run as the "
            "container command")


def _apache_plaintext_env(port):
    """apache's single-node/plaintext env, advertising the host port the test picked."""
    env = dockerlib.compose_env(os.path.join(dockerlib.APACHE_EXAMPLES, "docker-compose-files", "single-node",
                                             "plaintext", "docker-compose.yml"), "broker")
    env["KAFKA_ADVERTISED_LISTENERS"] = "PLAINTEXT_HOST://localhost:%d,PLAINTEXT://broker:19092" % port
    return env


def test_env_log_dirs_cfg_spelling_and_health_output(image):
    port = helpers.free_port()
    env = _apache_plaintext_env(port)
    assert env["KAFKA_LOG_DIRS"] == "/tmp/kraft-combined-logs"  # as every apache example sets it
    env["KAFKA_CFG_MESSAGE_MAX_BYTES"] = "2097152"  # bitnami's spelling
    args = ["--hostname", "broker", "-p", "%d:9092" % port]
    for k, v in env.items():
        args += ["-e", "%s=%s" % (k, v)]
    cid = dockerlib.docker_run(*args, image)
    try:
        healthy_s = dockerlib.wait_healthy(cid)
        bootstrap = "localhost:%d" % port
        n = dockerlib.produce_consume(bootstrap, "docker-logdirs", 100)
        listing = subprocess.run(["docker", "exec", cid, "ls", "/tmp/kraft-combined-logs"], capture_output=True,
                                 text=True, timeout=30)
        assert listing.returncode == 0, listing.stderr
        assert "meta.properties" in listing.stdout.split(), listing.stdout
        assert "docker-logdirs-0" in listing.stdout.split(), listing.stdout

        entries = dockerlib.broker_config(bootstrap)
        assert entries["message.max.bytes"].value == "2097152", entries["message.max.bytes"]

        health = json.loads(dockerlib.inspect(cid, "{{json .State.Health}}"))
        ok = [h for h in health["Log"] if h["ExitCode"] == 0]
        assert ok, health
        for h in health["Log"]:
            lines = h["Output"].strip().splitlines()
            assert len(lines) == 1, "health output must be the verdict line only: %r" % h["Output"]
        summary("docker: KAFKA_LOG_DIRS=/tmp/kraft-combined-logs holds meta.properties and the topic; "
                "KAFKA_CFG_MESSAGE_MAX_BYTES gave message.max.bytes=2097152; healthy %.1fs after start; "
                "health log %r; %d records produced and consumed" % (healthy_s, ok[-1]["Output"].strip(), n))
    finally:
        dockerlib.remove(cid)

