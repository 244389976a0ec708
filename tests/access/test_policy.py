"""The access policy as a table: every action x role x visibility, written out so it can be read."""

from __future__ import annotations

import pytest

from scaffold.access.policy import (
    ANONYMOUS,
    REQUIRED_ROLE,
    Action,
    Principal,
    actions_of,
    allowed,
    can_see,
    require,
)
from scaffold.access.records import Role, User
from scaffold.errors import Forbidden, NotFound, Unauthorized

PEOPLE = {
    "anon": None,
    "read_out": User("ro", Role.READ, ("dev",)),
    "read_in": User("ri", Role.READ, ("dev", "ops")),
    "write_out": User("wo", Role.WRITE, ()),
    "write_in": User("wi", Role.WRITE, ("ops",)),
    "admin": User("ad", Role.ADMIN, ()),
    "disabled": User("da", Role.ADMIN, ("ops",), disabled=True),
}
COLUMNS = list(PEOPLE)

# A cascade with groups: [ops]. "Y" = allowed, "-" = refused.
#                                    anon  read_out read_in write_out write_in admin disabled
GROUPED = {
    Action.VIEW:                    " -      -       Y       -        Y       Y      -   ",
    Action.START:                   " -      -       -       -        Y       Y      -   ",
    Action.KILL:                    " -      -       -       -        Y       Y      -   ",
    Action.APPLY:                   " -      -       -       -        Y       Y      -   ",
    Action.DELETE:                  " -      -       -       -        Y       Y      -   ",
    Action.EDIT_INPUTS:             " -      -       -       -        Y       Y      -   ",
    Action.EDIT_VALUES:             " -      -       -       -        Y       Y      -   ",
    Action.EDIT_FILES:              " -      -       -       -        Y       Y      -   ",
    Action.MANAGE_WEBHOOKS:         " -      -       -       -        Y       Y      -   ",
    Action.OPEN_SHELL:              " -      -       -       -        Y       Y      -   ",
    Action.MANAGE_USERS:            " -      -       -       -        -       Y      -   ",
    Action.MANAGE_TOKENS_OF_OTHERS: " -      -       -       -        -       Y      -   ",
    Action.READ_AUDIT:              " -      -       -       -        -       Y      -   ",
    Action.MANAGE_WORKERS:          " -      -       -       -        -       Y      -   ",
}  # fmt: skip

# A cascade without groups (visible to every user), or an action asked about the role alone.
#                                    anon  read_out read_in write_out write_in admin disabled
UNGROUPED = {
    Action.VIEW:                    " -      Y       Y       Y        Y       Y      -   ",
    Action.START:                   " -      -       -       Y        Y       Y      -   ",
    Action.KILL:                    " -      -       -       Y        Y       Y      -   ",
    Action.APPLY:                   " -      -       -       Y        Y       Y      -   ",
    Action.DELETE:                  " -      -       -       Y        Y       Y      -   ",
    Action.EDIT_INPUTS:             " -      -       -       Y        Y       Y      -   ",
    Action.EDIT_VALUES:             " -      -       -       Y        Y       Y      -   ",
    Action.EDIT_FILES:              " -      -       -       Y        Y       Y      -   ",
    Action.MANAGE_WEBHOOKS:         " -      -       -       Y        Y       Y      -   ",
    Action.OPEN_SHELL:              " -      -       -       Y        Y       Y      -   ",
    Action.MANAGE_USERS:            " -      -       -       -        -       Y      -   ",
    Action.MANAGE_TOKENS_OF_OTHERS: " -      -       -       -        -       Y      -   ",
    Action.READ_AUDIT:              " -      -       -       -        -       Y      -   ",
    Action.MANAGE_WORKERS:          " -      -       -       -        -       Y      -   ",
}  # fmt: skip


def _cases(table: dict[Action, str]) -> list[tuple[Action, str, bool]]:
    cases = []
    for action, row in table.items():
        marks = row.split()
        assert len(marks) == len(COLUMNS), action
        cases += [(action, who, mark == "Y") for who, mark in zip(COLUMNS, marks, strict=True)]
    return cases


def test_the_tables_cover_every_action():
    assert set(GROUPED) == set(UNGROUPED) == set(Action) == set(REQUIRED_ROLE)


@pytest.mark.parametrize(("action", "who", "expected"), _cases(GROUPED))
def test_grouped_cascade(action: Action, who: str, expected: bool):
    assert allowed(PEOPLE[who], action, ("ops",)) is expected
    assert allowed(PEOPLE[who], action, ["ops", "finance"]) is expected  # any iterable of groups


@pytest.mark.parametrize(("action", "who", "expected"), _cases(UNGROUPED))
def test_ungrouped_cascade_and_role_only(action: Action, who: str, expected: bool):
    assert allowed(PEOPLE[who], action, ()) is expected
    assert allowed(PEOPLE[who], action) is expected
    assert allowed(PEOPLE[who], action.value) is expected  # plain strings work too


@pytest.mark.parametrize(
    ("who", "grouped", "ungrouped"),
    [
        ("anon", False, False),
        ("read_out", False, True),
        ("read_in", True, True),
        ("write_out", False, True),
        ("write_in", True, True),
        ("admin", True, True),
        ("disabled", False, False),
    ],
)
def test_can_see(who: str, grouped: bool, ungrouped: bool):
    assert can_see(PEOPLE[who], ("ops",)) is grouped
    assert can_see(PEOPLE[who], ()) is ungrouped
    assert can_see(PEOPLE[who], None) is ungrouped


def test_actions_of_each_role():
    assert actions_of(Role.READ) == [Action.VIEW]
    assert Action.OPEN_SHELL in actions_of(Role.WRITE)
    assert Action.MANAGE_USERS not in actions_of(Role.WRITE)
    assert actions_of(Role.ADMIN) == list(Action)


def test_require_raises_the_error_a_front_end_shows():
    require(PEOPLE["write_in"], Action.START, ("ops",), cascade="deploy")
    with pytest.raises(Unauthorized):
        require(None, Action.VIEW)
    with pytest.raises(Forbidden, match="disabled"):
        require(PEOPLE["disabled"], Action.VIEW)
    with pytest.raises(NotFound, match="cascade 'deploy' does not exist"):
        require(PEOPLE["write_out"], Action.START, ("ops",), cascade="deploy")
    with pytest.raises(NotFound):  # even for a read user: the cascade is never revealed
        require(PEOPLE["read_out"], Action.START, ("ops",), cascade="deploy")
    with pytest.raises(Forbidden, match=r"role 'read' does not allow 'start'.*'write' role"):
        require(PEOPLE["read_in"], Action.START, ("ops",), cascade="deploy")
    with pytest.raises(Forbidden, match="'admin' role"):
        require(PEOPLE["write_in"], Action.MANAGE_USERS)


def test_principal():
    alice = User("alice", Role.WRITE, ("ops",))
    p = Principal(alice, "token", token_id="abc")
    assert (p.username, p.is_anonymous, p.via, p.token_id) == ("alice", False, "token", "abc")
    assert p.allowed(Action.START, ("ops",)) and not p.allowed(Action.START, ("dev",))
    assert p.can_see(()) and not p.can_see(("dev",))
    assert ANONYMOUS.is_anonymous and ANONYMOUS.username is None and ANONYMOUS.via == "anonymous"
    assert not ANONYMOUS.allowed(Action.VIEW) and not ANONYMOUS.can_see(())
