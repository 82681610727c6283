"""FifoSlots: released slots go to the longest waiter, never to a newcomer. Admission:
the time spent waiting for a turn counts against the request's one deadline."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from tests.support import TEST_SECRET
from todo_api.api.admission import Admission, FifoSlots
from todo_api.config import Settings
from todo_api.database.timeouts import within_request_deadline
from todo_api.errors import ServerBusyError

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


async def test_a_turn_taken_late_leaves_the_database_only_the_time_left() -> None:
    admission = Admission(1, timeout=1.0, deadline=1.5)
    admission_taken = asyncio.Event()

    async def long_request() -> None:
        async with admission:
            admission_taken.set()
            await asyncio.sleep(0.6)

    holder = asyncio.create_task(long_request())
    await admission_taken.wait()
    async with admission:  # waits about 0.6 s for the holder's turn
        left = within_request_deadline(5.0)
    await holder
    assert 0.7 < left < 0.95  # not the 5 s a statement alone would get
    assert within_request_deadline(5.0) == 5.0  # the turn is over: no request deadline


async def test_a_request_shed_for_want_of_a_turn_keeps_no_deadline() -> None:
    admission = Admission(1, timeout=0.05, deadline=0.1)
    holder = asyncio.create_task(admission.__aenter__())  # the only turn, held elsewhere
    await holder
    with pytest.raises(ServerBusyError):
        await admission.__aenter__()
    # Whatever this context runs next (an in-process client's next request, /ready) has
    # no deadline left over from the shed request.
    assert within_request_deadline(5.0) == 5.0
    admission.leave()


def test_the_admission_timeout_may_not_exceed_the_request_deadline() -> None:
    with pytest.raises(ValidationError, match="ADMISSION_TIMEOUT_SECONDS must not exceed"):
        Settings(
            _env_file=None,
            better_auth_secret=TEST_SECRET,
            admission_timeout_seconds=7,
            request_deadline_seconds=6,
        )


def test_unset_the_request_deadline_covers_the_waits_it_bounds() -> None:
    """Raising the admission or statement timeout alone never makes requests fail sooner."""

    def deadline(**values: float) -> float:
        settings = Settings.model_validate({"better_auth_secret": TEST_SECRET, **values})
        return settings.request_deadline

    assert deadline() == 6
    assert deadline(admission_timeout_seconds=7) == 7
    assert deadline(db_statement_timeout=30) == 31
    assert deadline(db_statement_timeout=30, request_deadline_seconds=8) == 8
