import pytest

from scaffold.engine.slots import Slots, Withdrawn


async def test_fifo_limit_and_withdraw():
    slots = Slots(2)
    a, b, c, d = (slots.acquire() for _ in range(4))
    assert a.done() and b.done() and not c.done() and not d.done()
    slots.withdraw(c)
    with pytest.raises(Withdrawn):
        await c
    slots.release()
    assert d.done() and slots.in_use == 2
    slots.withdraw(d)  # a granted slot given back
    slots.release()
    assert slots.in_use == 0
    with pytest.raises(ValueError):
        Slots(0)
