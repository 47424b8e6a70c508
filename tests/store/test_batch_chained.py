"""A batch whose later transaction changes an object an earlier one of the same batch
changed: applied back to back, both commit (the later one expects the object as the
earlier entry left it), identically on every store; out of order, it is refused."""

from __future__ import annotations

from core.model.node import Node, NodeSpec
from core.model.wire import Labels, replace
from core.store import MemoryStore
from core.store.actions import CHANGES_PER_TRANSACTION_MAX
from core.store.store import SequenceConflict


def stores_with_a_node() -> tuple[MemoryStore, MemoryStore, Node]:
    node = Node(id="n1", spec=NodeSpec(labels=Labels({"a": "0"})))
    leader, follower = MemoryStore(), MemoryStore()
    for store in (leader, follower):
        tx = store.transaction(lambda t: t.create(node), wall_ns=1)
        assert store.apply(1, tx).error is None
    return leader, follower, leader.tables["nodes"]["n1"]  # type: ignore[return-value]


def label(value: str):  # type: ignore[no-untyped-def]
    def build(tx):  # type: ignore[no-untyped-def]
        node = tx.get("nodes", "n1")
        tx.update(replace(node, spec=replace(node.spec, labels=Labels({"a": value}))))

    return build


def test_a_later_transaction_of_a_batch_may_change_what_an_earlier_one_changed() -> None:
    leader, follower, _ = stores_with_a_node()
    batch = leader.batch(wall_ns=2)
    assert batch.update(label("1")) is None
    batch.boundary()
    assert batch.update(label("2")) is None
    first, second = batch.transactions()
    assert second.actions[0].previous == 1
    for store in (leader, follower):
        assert store.apply(2, first).error is None
        assert store.apply(3, second).error is None
        node = store.tables["nodes"]["n1"]
        assert node.spec.labels["a"] == "2" and node.version.index == 3  # type: ignore[attr-defined]
    assert leader.snapshot() == follower.snapshot()


def test_the_chain_is_refused_when_the_entries_are_not_back_to_back() -> None:
    leader, _, _ = stores_with_a_node()
    batch = leader.batch(wall_ns=2)
    batch.update(label("1"))
    batch.boundary()
    batch.update(label("2"))
    first, second = batch.transactions()
    assert leader.apply(2, first).error is None
    leader.apply_noop(3)
    applied = leader.apply(4, second)
    assert isinstance(applied.error, SequenceConflict)
    assert leader.tables["nodes"]["n1"].spec.labels["a"] == "1"  # type: ignore[attr-defined]


def test_a_transaction_filled_up_opens_the_next_and_chains_too() -> None:
    leader, _, _ = stores_with_a_node()
    batch = leader.batch(wall_ns=2)
    for _ in range(CHANGES_PER_TRANSACTION_MAX):
        batch.update(label("x"))
    batch.update(label("y"))  # the 201st change: a new transaction
    transactions = batch.transactions()
    assert len(transactions) == 2
    assert transactions[1].actions[0].previous == 1
    assert transactions[1].decode(transactions[1].encode()).actions[0].previous == 1
