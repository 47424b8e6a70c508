"""Renewal: a random instant between 50% and 80% of the life, and on a role change."""

from __future__ import annotations

import random

from core.ca.renewal import renewal_delay, renewal_instant, role_changed
from core.ca.validity import cert_window
from core.model.enums import NodeRole
from tests.ca.support import WALL, load, make_root, node_cert


def test_renewal_instants_cover_50_to_80_percent_of_the_life_in_whole_minutes() -> None:
    cert = load(node_cert(make_root())[0])
    window = cert_window(cert)
    life = window.not_after - window.not_before  # 90 days and the hour of backdate
    rng = random.Random(11)
    offsets = [renewal_instant(cert, rng) - window.not_before for _ in range(5000)]
    assert all(offset % 60 == 0 for offset in offsets)
    lower, upper = int(life / 60 * 0.5) * 60, int(life / 60 * 0.8) * 60
    assert min(offsets) >= lower
    assert max(offsets) < upper
    # The draws spread over the whole range, not a corner of it.
    assert min(offsets) < lower + (upper - lower) * 0.01
    assert max(offsets) > upper - (upper - lower) * 0.01


def test_renewal_instant_depends_only_on_the_rng_handed_in() -> None:
    cert = load(node_cert(make_root())[0])
    first = [renewal_instant(cert, random.Random(3)) for _ in range(3)]
    assert len(set(first)) == 1
    draws = random.Random(3)
    assert len({renewal_instant(cert, draws) for _ in range(20)}) > 1


def test_a_life_too_short_to_draw_from_renews_at_half_of_it() -> None:
    # One hour of expiry plus one of backdate: 120 minutes, 60 to 96: still a draw.
    cert = load(node_cert(make_root(), expiry=3600)[0])
    window = cert_window(cert)
    rng = random.Random(5)
    for _ in range(200):
        offset = renewal_instant(cert, rng) - window.not_before
        assert 60 * 60 <= offset < 96 * 60


def test_renewal_delay_counts_from_the_wall_time_and_is_never_negative() -> None:
    cert = load(node_cert(make_root())[0])
    instant = renewal_instant(cert, random.Random(9))
    assert renewal_delay(cert, random.Random(9), WALL) == instant - WALL
    assert renewal_delay(cert, random.Random(9), instant + 10) == 0.0


def test_an_expired_certificate_retries_renewal_in_five_minutes() -> None:
    cert = load(node_cert(make_root(), expiry=86_400)[0])
    after = cert_window(cert).not_after
    assert renewal_delay(cert, random.Random(1), after + 1) == 300.0


def test_role_change_means_the_ou_no_longer_matches() -> None:
    root = make_root()
    worker = load(node_cert(root, NodeRole.WORKER)[0])
    manager = load(node_cert(root, NodeRole.MANAGER)[0])
    assert role_changed(worker, NodeRole.MANAGER)
    assert not role_changed(worker, NodeRole.WORKER)
    assert role_changed(manager, NodeRole.WORKER)
    assert not role_changed(manager, NodeRole.MANAGER)
