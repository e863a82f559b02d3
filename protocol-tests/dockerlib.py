"""Shared pieces of the Docker tests (test_docker*.py, test_testcontainers.py).

One image per pytest session: the first test that asks for it builds it with
docker/build-image.sh from GREGOR_BIN (or takes GREGOR_DOCKER_IMAGE, an image
already built, e.g. by CI or by hand while working on the tests), the others
reuse it. Every container, compose project and network these helpers make
carries a label and is removed by the helper that made it, failure or not.
"""

import os
import re
import shutil
import socket
import subprocess
import time
import uuid

import pytest
import yaml

import clients
import helpers

ROOT = helpers.REPO_ROOT
DOCKER_DIR = os.path.join(ROOT, "docker")
STACKS_DIR = os.path.join(helpers.REPO_ROOT, "protocol-tests", "stacks")
APACHE_EXAMPLES = os.path.join(STACKS_DIR, "apache-kafka-examples")
IMAGE = "gregor:protocol-test"
#: A second tag of the same image whose tag parses as a Confluent Platform
#: version >= 7.0.0: testcontainers-python's with_kraft() refuses any other tag.
TC_IMAGE = "gregor-tc:7.9.0"
#: The issue's size target for the image, in bytes.
MAX_IMAGE_BYTES = 15_000_000
#: Longest a container or stack may take to become ready, in seconds (a bound, not a performance figure).
READY_TIMEOUT_S = 90
#: Longest a container that must refuse its configuration may run before it exits, in seconds.
REFUSAL_TIMEOUT_S = 30
#: Label on everything the Docker tests create, so a leak is easy to find (`docker ps -a --filter label=...`).
LABEL = "gregor.protocol-test"

_BUILT = {}


def docker_ready():
    """None when a Docker engine and docker-compose are usable, else why not."""
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


def build_image():
    """The image under test (built once per session); skips the caller when Docker is unusable."""
    if "image" in _BUILT:
        return _BUILT["image"]
    reason = docker_ready()
    if reason:
        pytest.skip("Docker tests skipped: " + reason)
    prebuilt = os.environ.get("GREGOR_DOCKER_IMAGE")
    if prebuilt:
        subprocess.run(["docker", "image", "inspect", prebuilt], check=True, capture_output=True)
        subprocess.run(["docker", "tag", prebuilt, IMAGE], check=True)
        summary_line = "docker: using prebuilt image %s (GREGOR_DOCKER_IMAGE)" % prebuilt
    else:
        binary = os.environ.get("GREGOR_BIN", helpers.DEFAULT_BIN)
        if not _is_static(binary):
            pytest.skip("Docker tests skipped: %s is not statically linked (the README's test command "
                        "builds a static binary; a FROM scratch image needs one)" % binary)
        r = subprocess.run([os.path.join(DOCKER_DIR, "build-image.sh"), "--binary", binary, "--tag", IMAGE],
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, "image build failed:\n%s\n%s" % (r.stdout, r.stderr)
        summary_line = None
    size = int(subprocess.check_output(["docker", "image", "inspect", "-f", "{{.Size}}", IMAGE], text=True))
    helpers.summary(summary_line or "docker: image %s is %d bytes (%.1f MB)" % (IMAGE, size, size / 1e6))
    subprocess.run(["docker", "tag", IMAGE, TC_IMAGE], check=True)
    _BUILT["image"] = IMAGE
    _BUILT["size"] = size
    return IMAGE


def image_size():
    return _BUILT["size"]


def host_port_free(port):
    """True when nothing on this host listens on `port` (fixed ports of published compose files)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("0.0.0.0", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def require_free(ports=(), container_names=()):
    """Skip with the reason when a published file's fixed host port or container name is taken."""
    for p in ports:
        if not host_port_free(p):
            pytest.skip("host port %d is in use; the published compose file maps it fixed" % p)
    for name in container_names:
        r = subprocess.run(["docker", "inspect", name], capture_output=True, text=True)
        if r.returncode == 0:
            pytest.skip("a container named %r exists; the published compose file uses that fixed name" % name)


def compose_env(path, service):
    """The `environment:` block of one service of a compose file, as strings (values as YAML gives them)."""
    with open(path) as f:
        doc = yaml.safe_load(f)
    env = doc["services"][service].get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


class Stack:
    """One `docker-compose -p NAME -f FILE` project; `down()` removes its containers, volumes and networks."""

    def __init__(self, compose_file, env=None):
        self.file = compose_file
        self.project = "gpt" + uuid.uuid4().hex[:10]
        self.env = dict(os.environ, **(env or {}))

    def compose(self, *args, input=None, timeout=180, check=True):
        r = subprocess.run(["docker-compose", "-p", self.project, "-f", self.file, *args], env=self.env,
                           input=input, capture_output=True, text=True, timeout=timeout)
        if check:
            assert r.returncode == 0, "docker-compose %s failed (%d):\n%s\n%s" % (
                " ".join(args), r.returncode, r.stdout, r.stderr)
        return r

    def container(self, service):
        cid = self.compose("ps", "-a", "-q", service).stdout.strip()
        assert cid, "no container for service %s" % service
        return cid

    def logs(self, service):
        return self.compose("logs", "--no-color", service, check=False).stdout

    def down(self):
        self.compose("down", "-v", "--remove-orphans", "-t", "5", check=False, timeout=120)


def inspect(cid, fmt):
    return subprocess.check_output(["docker", "inspect", "-f", fmt, cid], text=True).strip()


def logs(cid):
    r = subprocess.run(["docker", "logs", cid], capture_output=True, text=True, timeout=30)
    return r.stdout + r.stderr


def wait_healthy(cid, timeout=READY_TIMEOUT_S):
    """Seconds until Docker reports the container healthy; fails with its log otherwise."""
    t0 = time.time()
    status = None
    while time.time() - t0 < timeout:
        status = inspect(cid, "{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}")
        if status == "healthy":
            return time.time() - t0
        if status == "none" or inspect(cid, "{{.State.Running}}") != "true":
            break
        time.sleep(0.5)
    raise AssertionError("container %s not healthy (status %s) after %.0fs; log:\n%s"
                         % (cid[:12], status, time.time() - t0, logs(cid)[-3000:]))


def wait_log(cid, regex, timeout=READY_TIMEOUT_S):
    """Seconds until a log line matches `regex` in full (as testcontainers' log wait strategies do)."""
    pattern = re.compile(regex)
    t0 = time.time()
    while time.time() - t0 < timeout:
        text = logs(cid)
        if any(pattern.fullmatch(line) for line in text.splitlines()):
            return time.time() - t0
        if inspect(cid, "{{.State.Running}}") != "true":
            raise AssertionError("container %s exited (%s) before logging %r; log:\n%s"
                                 % (cid[:12], inspect(cid, "{{.State.ExitCode}}"), regex, text[-3000:]))
        time.sleep(0.2)
    raise AssertionError("no log line matching %r after %ds; log:\n%s" % (regex, timeout, logs(cid)[-3000:]))


def wait_exit(cid, timeout=REFUSAL_TIMEOUT_S):
    """The container's exit code; fails if it still runs after `timeout` seconds."""
    try:
        r = subprocess.run(["docker", "wait", cid], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError("container %s still running after %ds; log:\n%s"
                             % (cid[:12], timeout, logs(cid)[-3000:]))
    return int(r.stdout.strip())


def docker_run(*args, timeout=60):
    """`docker run -d --label LABEL ARGS...` -> container id (the caller removes it: `remove(cid)`)."""
    r = subprocess.run(["docker", "run", "-d", "--label", LABEL, *args], capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0, "docker run %s failed:\n%s" % (" ".join(args), r.stderr)
    return r.stdout.strip()


def remove(cid):
    subprocess.run(["docker", "rm", "-f", "-v", cid], capture_output=True, timeout=60)


def gregor_lines(text):
    """The `gregor: ...` lines of a log: the broker's one-line refusals (contract: exit 2, one line)."""
    return [line.strip() for line in text.splitlines() if line.strip().startswith("gregor:")]


def produce_consume(bootstrap, topic, n=200, partitions=1):
    """Produce n records with confluent-kafka, read them back, verify; returns n."""
    msgs = helpers.make_messages(n, partitions=partitions, tag=topic)
    delivered = clients.produce_confluent(bootstrap, topic, msgs)
    got = clients.consume_confluent(bootstrap, topic, partitions, n)
    helpers.verify_consumed(msgs, delivered, got, "docker %s" % topic)
    return n


def wait_bootstrap(bootstrap, timeout=READY_TIMEOUT_S):
    """Seconds until a Metadata request over `bootstrap` answers (for stacks without a healthcheck)."""
    t0 = time.time()
    last = None
    while time.time() - t0 < timeout:
        try:
            clients.ck_admin(bootstrap).list_topics(timeout=2)
            return time.time() - t0
        except Exception as e:  # the client raises KafkaException while nothing listens yet
            last = e
            time.sleep(0.3)
    raise AssertionError("%s answered no Metadata request within %ds: %s" % (bootstrap, timeout, last))


def broker_config(bootstrap, broker_id="1"):
    """DescribeConfigs of the broker resource: {name: ConfigEntry}."""
    from confluent_kafka.admin import ConfigResource, ResourceType
    admin = clients.ck_admin(bootstrap)
    fs = admin.describe_configs([ConfigResource(ResourceType.BROKER, broker_id)], request_timeout=15)
    (f,) = fs.values()
    return f.result(timeout=20)
