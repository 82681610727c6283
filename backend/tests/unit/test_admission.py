"""FifoSlots: released slots go to the longest waiter, never to a newcomer."""

from __future__ import annotations

import asyncio

import pytest

from todo_api.api.admission import FifoSlots

pytestmark = pytest.mark.anyio


async def test_slots_are_handed_over_in_arrival_order() -> None:
    slots = FifoSlots(1)
    order: list[str] = []

    async def worker(name: str) -> None:
        async with slots:
            order.append(name)
            await asyncio.sleep(0)

    await slots.acquire()  # the slot is taken: everyone below queues
    tasks = [asyncio.create_task(worker(name)) for name in "abc"]
    await asyncio.sleep(0)
    slots.release()
    # A newcomer arriving right after the release must queue behind a, b and c.
    tasks.append(asyncio.create_task(worker("newcomer")))
    await asyncio.gather(*tasks)

    assert order == ["a", "b", "c", "newcomer"]


async def test_at_most_n_hold_a_slot_at_once() -> None:
    slots = FifoSlots(3)
    holding = peak = 0

    async def worker() -> None:
        nonlocal holding, peak
        async with slots:
            holding += 1
            peak = max(peak, holding)
            await asyncio.sleep(0.001)
            holding -= 1

    await asyncio.gather(*(worker() for _ in range(20)))
    assert peak == 3
    # All slots are free again: three acquire at once without waiting.
    await asyncio.wait_for(asyncio.gather(*(slots.acquire() for _ in range(3))), 1)


async def test_a_cancelled_waiter_gives_up_its_place() -> None:
    slots = FifoSlots(1)
    await slots.acquire()
    cancelled = asyncio.create_task(slots.acquire())
    patient = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0)
    cancelled.cancel()
    await asyncio.sleep(0)
    slots.release()
    await asyncio.wait_for(patient, 1)
    assert cancelled.cancelled()


async def test_a_waiter_gives_up_after_its_patience_and_leaves_the_queue() -> None:
    slots = FifoSlots(1)
    await slots.acquire()
    with pytest.raises(TimeoutError):
        await slots.acquire(patience=0.05)
    slots.release()
    # The one that gave up is not handed the slot: a newcomer gets it at once.
    await asyncio.wait_for(slots.acquire(patience=0.05), timeout=1)
