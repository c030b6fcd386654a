"""The phone tests' private network namespace really is private."""

from __future__ import annotations

import pytest

from tests.netns import Netns


def test_only_loopback_is_up_inside(netns: Netns) -> None:
    links = netns.run("ip", "-o", "link", "show")
    assert links.returncode == 0, links.stderr
    names = [line.split(":")[1].strip() for line in links.stdout.splitlines()]
    assert names == ["lo"]
    assert "state UNKNOWN" in links.stdout or "UP" in links.stdout


def test_the_machines_own_services_are_out_of_reach(netns: Netns) -> None:
    # PostgreSQL listens on the machine's 127.0.0.1:5432; the namespace's loopback is another.
    with pytest.raises(ConnectionRefusedError):
        netns.connect(5432)
    route = netns.run("ip", "route", "get", "192.0.2.1")
    assert route.returncode != 0  # no route anywhere but loopback
