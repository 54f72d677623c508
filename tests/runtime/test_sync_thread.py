"""The sync thread: group commit (a sync covers every request made before it started, requests
made during one get the next), errors handed to the requests, a bounded close."""

from __future__ import annotations

import asyncio
import threading

import pytest

from skewless.runtime.sync_thread import SyncThread

pytestmark = pytest.mark.timeout(60)


def test_requests_made_during_a_sync_share_the_next_one() -> None:
    started = threading.Event()
    release = threading.Event()
    writes_at_sync: list[int] = []
    writes = [0]  # "storage writes" made on the loop

    def sync() -> None:
        writes_at_sync.append(writes[0])  # what this sync covers: every write made so far
        started.set()
        assert release.wait(10)

    async def body() -> None:
        st = SyncThread(sync)
        writes[0] = 1
        first = st.request()
        assert await asyncio.to_thread(started.wait, 10)
        started.clear()
        writes[0] = 3  # two more writes, each followed by its request, while the sync runs
        second, third = st.request(), st.request()
        await asyncio.sleep(0.05)
        assert not first.done() and not second.done()
        release.set()
        await asyncio.wait_for(asyncio.gather(first, second, third), 10)
        assert writes_at_sync == [1, 3]  # the second and third shared one sync, after theirs
        assert st.syncs == 2
        st.close()

    asyncio.run(body())


def test_a_failed_sync_is_raised_to_each_request_it_answered() -> None:
    failures = [OSError("No space left on device")]

    def sync() -> None:
        if failures:
            raise failures.pop()

    async def body() -> None:
        st = SyncThread(sync)
        with pytest.raises(OSError, match="No space"):
            await asyncio.wait_for(st.request(), 10)
        await asyncio.wait_for(st.request(), 10)  # the thread goes on
        st.close()
        st.close()  # twice: a no-op

    asyncio.run(body())
