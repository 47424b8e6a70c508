"""Secret, config, network and service names are unique in their table, ignoring
case (SwarmKit's unique name index): a create or a rename onto a name in use is
refused, both when the writer builds its transaction and when a manager applies
a committed entry built against an older state. Shoal has no secret or config
API yet; the store is where the rule lives."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from core.model.common import StoredObject
from core.model.network import Network, NetworkSpec
from core.model.secret import Config, ConfigSpec, Secret, SecretSpec
from core.model.service import Service, ServiceSpec
from core.model.wire import replace
from core.store import MemoryStore, NameConflict, Transaction
from tests.store.test_store import committed

Make = Callable[[str, str], StoredObject]

KINDS: dict[str, Make] = {
    "secrets": lambda i, name: Secret(id=i, spec=SecretSpec(name=name, data="c2VjcmV0")),
    "configs": lambda i, name: Config(id=i, spec=ConfigSpec(name=name, data="Y29uZmln")),
    "services": lambda i, name: Service(id=i, spec=ServiceSpec(name=name)),
    "networks": lambda i, name: Network(id=i, spec=NetworkSpec(name=name)),
}


@pytest.mark.parametrize("table", sorted(KINDS))
def test_a_create_of_a_name_in_use_is_refused_whatever_its_case(table: str) -> None:
    make = KINDS[table]
    store = MemoryStore()
    committed(store, lambda tx: tx.create(make("id1", "db-pass")))
    for name in ("db-pass", "DB-Pass"):
        with pytest.raises(
            NameConflict, match=f"^name conflicts with an existing object: {table} 'db-pass'$"
        ):
            store.transaction(lambda tx, n=name: tx.create(make("id2", n)), 0)  # type: ignore[misc]
    committed(store, lambda tx: tx.create(make("id3", "db-pass-2")))  # another name is fine
    assert sorted(store.tables[table]) == ["id1", "id3"]


@pytest.mark.parametrize("table", sorted(KINDS))
def test_a_rename_onto_a_name_in_use_is_refused(table: str) -> None:
    make = KINDS[table]
    store = MemoryStore()
    committed(store, lambda tx: (tx.create(make("id1", "one")), tx.create(make("id2", "two"))))
    two = store.tables[table]["id2"]
    renamed = replace(two, spec=replace(two.spec, name="ONE"))  # type: ignore[attr-defined]
    with pytest.raises(NameConflict):
        store.transaction(lambda tx: tx.update(renamed), 0)


@pytest.mark.parametrize("table", sorted(KINDS))
def test_two_creates_of_one_name_in_flight_commit_only_the_first(table: str) -> None:
    """Both were built against a store without the name; the second entry to apply
    is refused on every manager alike."""
    make = KINDS[table]
    store = MemoryStore()
    first = store.transaction(lambda tx: tx.create(make("id1", "shared")), 0)
    second = store.transaction(lambda tx: tx.create(make("id2", "SHARED")), 0)
    assert store.apply(1, Transaction.decode(first.encode())).error is None
    refused = store.apply(2, Transaction.decode(second.encode())).error
    assert isinstance(refused, NameConflict)
    assert sorted(store.tables[table]) == ["id1"]


def test_a_secret_and_a_config_may_share_a_name() -> None:
    store = MemoryStore()
    committed(
        store,
        lambda tx: (
            tx.create(KINDS["secrets"]("s1", "app")),
            tx.create(KINDS["configs"]("c1", "app")),
        ),
    )
    assert (len(store.tables["secrets"]), len(store.tables["configs"])) == (1, 1)
