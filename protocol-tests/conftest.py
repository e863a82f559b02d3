"""Fixtures: a real gregor process per module (`broker`) or per test
(`broker_factory`), with the broker's log attached to every failure report."""

import pytest

import helpers
from helpers import ACTIVE_BROKERS, Broker


@pytest.fixture(scope="module")
def broker():
    """A default gregor shared by the tests of one module (no restarts)."""
    yield from helpers.serve_broker(name="module-broker")


# Broker settings for consumer-group tests: no initial rebalance delay (as in
# Kafka's docker images), so the first member of a group is assigned at once.
GROUP_OVERRIDES = {"group.initial.rebalance.delay.ms": 0}


@pytest.fixture(scope="module")
def group_broker():
    """Like `broker`, with GROUP_OVERRIDES (for consumer-group tests)."""
    yield from helpers.serve_broker(GROUP_OVERRIDES, name="group-broker")


@pytest.fixture
def broker_factory():
    """make(overrides=..., wrapper=..., start=True) -> Broker, torn down after the test."""
    created = []

    def make(overrides=None, wrapper=None, start=True, name="test-broker"):
        b = Broker(overrides=overrides, wrapper=wrapper, name=name)
        created.append(b)
        if start:
            b.start()
        return b

    yield make
    for b in created:
        b.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for b in list(ACTIVE_BROKERS):
            state = "running" if b.alive() else "exited with %s" % (b.proc.returncode if b.proc else None)
            rep.sections.append(("gregor log [%s, port %d, %s] %s" % (b.name, b.port, state, b.log_path),
                                 b.log_tail()))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if helpers.SUMMARY_LINES:
        terminalreporter.write_sep("=", "gregor protocol summary")
        for line in helpers.SUMMARY_LINES:
            terminalreporter.write_line(line)
