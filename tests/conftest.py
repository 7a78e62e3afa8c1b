from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# In CI the property tests explore a fixed set of examples (a failure there is reproducible
# with the same seed); locally they keep exploring. A loaded CI machine must not fail them
# for being slow to generate data.
settings.register_profile("ci", derandomize=True, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")

from tests import harness  # noqa: E402  (after the hypothesis profile is chosen)


@pytest.fixture(scope="session")
def sockdash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[harness.Sockdash]:
    """One real sockdash process shared by the integration and e2e tests (use deltas)."""
    proc = harness.start(tmp_path_factory.mktemp("sockdash"))
    yield proc
    proc.stop()


@pytest.fixture
def tftpd_hpa(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """tftpd-hpa on a free loopback port, answering: (port, the folder it serves)."""
    root = tmp_path / "hpa"
    with harness.tftpd_hpa(root) as port:
        yield port, root


@pytest.fixture
def fresh_sockdash(tmp_path: Path) -> Iterator[harness.Sockdash]:
    """A sockdash process of the test's own, for tests that change or stop it."""
    proc = harness.start(tmp_path)
    yield proc
    proc.stop()
