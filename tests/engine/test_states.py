"""The state table over the whole state x state grid."""

import itertools

import pytest

from scaffold.engine import states
from scaffold.engine.states import State

S = State
# Every allowed move, spelled out independently of the table in states.py.
EXPECTED_ALLOWED = {
    (S.NOT_STARTED, S.WAITING),
    (S.WAITING, S.RUNNING),
    (S.WAITING, S.KILLED),
    (S.WAITING, S.ERROR),
    (S.RUNNING, S.SUCCESS),
    (S.RUNNING, S.ERROR),
    (S.RUNNING, S.KILLED),
    (S.RUNNING, S.WAITING),
    (S.SUCCESS, S.WAITING),
    (S.SUCCESS, S.NOT_STARTED),
    (S.SUCCESS, S.ERROR),
    (S.ERROR, S.WAITING),
    (S.ERROR, S.NOT_STARTED),
    (S.KILLED, S.WAITING),
    (S.KILLED, S.NOT_STARTED),
}


@pytest.mark.parametrize("old,new", list(itertools.product(State, State)))
def test_every_pair_of_states(old, new):
    expected = (old, new) in EXPECTED_ALLOWED
    assert states.allowed(old, new) is expected
    if expected:
        states.check(old, new)
    else:
        with pytest.raises(states.IllegalTransition) as info:
            states.check(old, new)
        assert info.value.status == 409
        assert f"from {old.value} to {new.value}" in info.value.message


def test_groups():
    assert {s for s in State if s.active} == {S.WAITING, S.RUNNING}
    assert {s for s in State if s.final} == {S.SUCCESS, S.ERROR, S.KILLED}
    assert not S.NOT_STARTED.active and not S.NOT_STARTED.final


def test_every_transition_has_a_reason():
    for old, moves in states.TRANSITIONS.items():
        for new, why in moves.items():
            assert why.strip(), (old, new)
