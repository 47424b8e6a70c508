"""Each mutation switch is caught by the unit test of the rule it breaks.

A switch turns on one deliberate bug in the Raft core (core/raft/config.py,
Mutations). With the switch on, the rule's check must fail; with it off, pass. The
stateful test (test_stateful.py) catches the same switches through its safety checks.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from core.raft.config import Mutations, RaftConfig
from tests.raft.rules import (
    check_append_requires_matching_previous_entry,
    check_leader_only_commits_current_term_by_counting,
    check_single_vote_per_term,
    check_stale_term_is_rejected,
    check_votes_wait_for_durable_term_and_vote,
)
from tests.raft.support import paper_config, with_mutation

RULE_FOR_MUTATION: dict[str, tuple[Callable[[RaftConfig], None], RaftConfig]] = {
    "grant_two_votes_per_term": (check_single_vote_per_term, paper_config()),
    "commit_old_term_by_counting": (
        check_leader_only_commits_current_term_by_counting,
        paper_config(),
    ),
    "send_before_persist": (check_votes_wait_for_durable_term_and_vote, paper_config()),
    "accept_stale_term": (check_stale_term_is_rejected, paper_config(check_quorum=True)),
    "skip_log_matching": (check_append_requires_matching_previous_entry, paper_config()),
}


def test_every_mutation_switch_has_a_rule_that_catches_it() -> None:
    assert set(RULE_FOR_MUTATION) == set(Mutations.__dataclass_fields__)


@pytest.mark.parametrize("mutation", sorted(RULE_FOR_MUTATION))
def test_rule_holds_without_the_mutation(mutation: str) -> None:
    check, config = RULE_FOR_MUTATION[mutation]
    check(config)


@pytest.mark.parametrize("mutation", sorted(RULE_FOR_MUTATION))
def test_rule_check_catches_the_mutation(mutation: str) -> None:
    check, config = RULE_FOR_MUTATION[mutation]
    with pytest.raises(AssertionError):
        check(with_mutation(mutation, config))
