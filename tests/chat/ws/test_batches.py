"""chat.ws.batches.BatchQueue: what arrives while a batch runs goes out as the next batch."""

from __future__ import annotations

import asyncio

import pytest

from chat.ws.batches import BatchQueue


class Recorder:
    """A `run` that holds each batch until the test lets it go."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, items: list[int]) -> list[str]:
        self.batches.append(items)
        self.started.set()
        await self.release.wait()
        self.release.clear()
        self.started.clear()
        if -1 in items:
            raise RuntimeError("the database is down")
        return [f"answer {i}" for i in items]

    async def next_batch(self) -> None:
        """Wait until a batch is running, then let it finish."""
        await self.started.wait()
        self.release.set()


async def test_sends_arriving_during_a_batch_go_out_together_and_each_gets_its_own_answer() -> None:
    run = Recorder()
    queue = BatchQueue(run, max_batch=10, in_flight=1)
    first = queue.submit(1)
    await run.started.wait()
    later = [queue.submit(i) for i in (2, 3, 4)]
    run.release.set()
    assert await first == "answer 1"
    await run.next_batch()
    assert await asyncio.gather(*later) == ["answer 2", "answer 3", "answer 4"]
    assert run.batches == [[1], [2, 3, 4]]


async def test_a_batch_holds_at_most_max_batch_sends() -> None:
    run = Recorder()
    queue = BatchQueue(run, max_batch=2, in_flight=1)
    futures = [queue.submit(0)]
    await run.started.wait()
    futures += [queue.submit(i) for i in (1, 2, 3)]
    run.release.set()
    assert await futures[0] == "answer 0"
    await run.next_batch()
    assert await futures[2] == "answer 2"
    await run.next_batch()
    assert await futures[3] == "answer 3"
    assert run.batches == [[0], [1, 2], [3]]


async def test_a_failed_batch_fails_each_of_its_sends_and_the_queue_goes_on() -> None:
    run = Recorder()
    queue = BatchQueue(run, max_batch=10, in_flight=1)
    failing = queue.submit(-1)
    await run.next_batch()
    with pytest.raises(RuntimeError, match="database is down"):
        await failing
    after = queue.submit(5)
    await run.next_batch()
    assert await after == "answer 5"


async def test_batches_run_side_by_side_up_to_in_flight() -> None:
    run = Recorder()
    queue = BatchQueue(run, max_batch=10, in_flight=2)
    first, second = queue.submit(1), queue.submit(2)  # each starts a batch: two slots
    third = queue.submit(3)  # both slots busy: waits for one
    await run.started.wait()
    assert run.batches == [[1], [2]]
    run.release.set()  # both running batches see it
    assert list(await asyncio.gather(first, second)) == ["answer 1", "answer 2"]
    await run.next_batch()
    assert await third == "answer 3"
    assert run.batches == [[1], [2], [3]]
