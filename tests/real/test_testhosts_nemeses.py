"""Loss and duplication on a test host: the share of datagrams between two test hosts'
addresses the rules drop or repeat, nothing else touched (loopback, the other hosts),
and every rule gone after a heal.

Traffic goes only between the test hosts' own addresses and loopback."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from real.testhosts import firewall
from real.testhosts.hosts import TestHosts
from real.testhosts.probe import udp_arrivals

Make = Callable[..., TestHosts]
SENDS = 600


def test_loss_drops_its_share_both_ways_and_nothing_else(testhosts: Make) -> None:
    hosts = testhosts(3)
    h1, h2, h3 = hosts
    hosts.lose(h1, 0.3)
    assert udp_arrivals(h1, h2, h2.address, SENDS) / SENDS == pytest.approx(0.7, abs=0.07)
    assert udp_arrivals(h2, h1, h1.address, SENDS) / SENDS == pytest.approx(0.7, abs=0.07)
    assert udp_arrivals(h2, h3, h3.address, SENDS) == SENDS  # between others: untouched
    assert udp_arrivals(h1, h1, "127.0.0.1", SENDS) == SENDS  # loopback: untouched
    assert f'comment "{hosts.run_id}:loss 30.00%"' in firewall.ruleset(h1.netns_path)
    hosts.heal(h1)
    assert udp_arrivals(h1, h2, h2.address, SENDS) == SENDS
    assert "numgen" not in firewall.ruleset(h1.netns_path)


def test_duplicate_repeats_its_share_of_what_the_host_sends(testhosts: Make) -> None:
    hosts = testhosts(2)
    h1, h2 = hosts
    hosts.duplicate(h1, 0.3)
    assert udp_arrivals(h1, h2, h2.address, SENDS) / SENDS == pytest.approx(1.3, abs=0.07)
    assert udp_arrivals(h2, h1, h1.address, SENDS) == SENDS  # what it receives: once
    assert udp_arrivals(h1, h1, "127.0.0.1", SENDS) == SENDS  # loopback: untouched
    tables = firewall.tables(h1.netns_path)
    assert sorted(t for t in tables if "shoaltest" in t) == ["inet shoaltest", "ip shoaltest"]
    assert f'comment "{hosts.run_id}:duplicate 30.00%"' in firewall.ruleset(h1.netns_path)
    hosts.duplicate(h1, 0.0)
    assert [t for t in firewall.tables(h1.netns_path) if "shoaltest" in t] == ["inet shoaltest"]
    assert udp_arrivals(h1, h2, h2.address, SENDS) == SENDS


def test_shape_replaces_isolation_and_cuts_but_keeps_loss(testhosts: Make) -> None:
    hosts = testhosts(3)
    h1, h2, h3 = hosts
    hosts.lose(h1, 0.01)
    hosts.shape(h1, True, [])
    assert udp_arrivals(h1, h2, h2.address, 50) == 0
    hosts.shape(h1, False, [h3])
    assert udp_arrivals(h1, h2, h2.address, 200) > 150
    assert udp_arrivals(h1, h3, h3.address, 50) == 0
    assert udp_arrivals(h3, h1, h1.address, 200) > 150  # one way only
    assert "loss 1.00%" in firewall.ruleset(h1.netns_path)


def test_a_whole_loss_drops_everything_on_the_interface(testhosts: Make) -> None:
    hosts = testhosts(2)
    h1, h2 = hosts
    hosts.lose(h1, 1.0)
    hosts.duplicate(h1, 1.0)
    assert udp_arrivals(h2, h1, h1.address, 50) == 0
    assert udp_arrivals(h1, h1, "127.0.0.1", 50) == 50
    hosts.lose(h1, 0.0)
    assert udp_arrivals(h1, h2, h2.address, 50) == 100  # every one twice
