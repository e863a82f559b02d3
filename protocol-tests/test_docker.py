"""The container image and the example compose stacks in docker/.

Needs a Docker engine and docker-compose (the project's machines have both);
elsewhere the module is skipped with the reason. The image is built from the
static binary under test (GREGOR_BIN) by docker/build-image.sh, each stack is
brought up with `docker-compose up`, waited on through its healthcheck, used
from the host over the published port and from a second container over the
internal listener, then taken down and brought up again on the same volume.
"""

import os
import shutil
import subprocess
import time
import uuid

import pytest

import clients
import helpers
from helpers import summary

ROOT = helpers.REPO_ROOT
DOCKER_DIR = os.path.join(ROOT, "docker")
IMAGE = "gregor:protocol-test"
#: The issue's size target for the image, in bytes.
MAX_IMAGE_BYTES = 15_000_000
#: Longest a stack may take to report healthy, in seconds (not a performance figure).
HEALTHY_TIMEOUT_S = 90


def _docker_ready():
    if shutil.which("docker") is None:
        return "no docker command on PATH"
    if shutil.which("docker-compose") is None:
        return "no docker-compose command on PATH"
    try:
        r = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True,
                           text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "docker info failed: %s" % e
    if r.returncode != 0:
        return "no Docker engine reachable: %s" % r.stderr.strip()[:200]
    return None


def _is_static(path):
    r = subprocess.run(["readelf", "-l", path], capture_output=True, text=True)
    return r.returncode == 0 and "Requesting program interpreter" not in r.stdout


@pytest.fixture(scope="module")
def image():
    reason = _docker_ready()
    if reason:
        pytest.skip("Docker tests skipped: " + reason)
    binary = os.environ.get("GREGOR_BIN", helpers.DEFAULT_BIN)
    if not _is_static(binary):
        pytest.skip("Docker tests skipped: %s is not statically linked (the README's test command "
                    "builds a static binary; a FROM scratch image needs one)" % binary)
    r = subprocess.run([os.path.join(DOCKER_DIR, "build-image.sh"), "--binary", binary, "--tag", IMAGE],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, "image build failed:\n%s\n%s" % (r.stdout, r.stderr)
    size = int(subprocess.check_output(["docker", "image", "inspect", "-f", "{{.Size}}", IMAGE], text=True))
    summary("docker: image %s is %d bytes (%.1f MB)" % (IMAGE, size, size / 1e6))
    assert size < MAX_IMAGE_BYTES, "image is %d bytes, over the %d-byte target" % (size, MAX_IMAGE_BYTES)
    return IMAGE


class Stack:
    """One `docker-compose -p NAME -f FILE` project on a free host port."""

    def __init__(self, compose_file, image):
        self.file = os.path.join(DOCKER_DIR, compose_file)
        self.project = "gpt" + uuid.uuid4().hex[:10]
        self.port = helpers.free_port()
        self.env = dict(os.environ, GREGOR_IMAGE=image, GREGOR_PORT=str(self.port))

    @property
    def bootstrap(self):
        return "localhost:%d" % self.port

    def compose(self, *args, input=None, timeout=180, check=True):
        r = subprocess.run(["docker-compose", "-p", self.project, "-f", self.file, *args], env=self.env,
                           input=input, capture_output=True, text=True, timeout=timeout)
        if check:
            assert r.returncode == 0, "docker-compose %s failed (%d):\n%s\n%s" % (
                " ".join(args), r.returncode, r.stdout, r.stderr)
        return r

    def container(self, service):
        cid = self.compose("ps", "-q", service).stdout.strip()
        assert cid, "no container for service %s" % service
        return cid

    def wait_healthy(self, service="kafka"):
        cid = self.container(service)
        deadline = time.time() + HEALTHY_TIMEOUT_S
        status = None
        while time.time() < deadline:
            status = subprocess.check_output(["docker", "inspect", "-f", "{{.State.Health.Status}}", cid],
                                             text=True).strip()
            if status == "healthy":
                return
            time.sleep(0.5)
        logs = self.compose("logs", "--no-color", service, check=False).stdout
        raise AssertionError("%s not healthy after %ds (status %s); logs:\n%s"
                             % (service, HEALTHY_TIMEOUT_S, status, logs[-3000:]))

    def down(self):
        self.compose("down", "-v", "--remove-orphans", check=False, timeout=120)


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

    # Remove the container, keep the named volume, start a new one on it.
    s.compose("down")
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
