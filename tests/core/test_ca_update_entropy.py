"""``swarm update`` on a manager without entropy: refused only when it must make a new
root (``--rotate`` without a given root), not for every other change."""

from __future__ import annotations

import pytest

from core.ca.cluster import stored_root
from core.manager.ca_api import ca_update
from core.manager.requests import ApiError
from core.model import replace
from core.model.cluster import Cluster, ClusterSpec
from tests.ca.support import WALL, make_root


def cluster() -> Cluster:
    return Cluster(id="c1", spec=ClusterSpec(), root_ca=stored_root(make_root(1)))


def test_an_update_that_makes_no_root_needs_no_entropy() -> None:
    current = cluster()
    spec, updated = ca_update(current, replace(current.spec, name="renamed"), {}, None, WALL)
    assert spec.name == "renamed" and updated.root_ca == current.root_ca


def test_a_rotation_to_a_new_root_needs_entropy() -> None:
    current = cluster()
    with pytest.raises(ApiError, match="no entropy"):
        ca_update(current, current.spec, {"rotate_ca": True}, None, WALL)
