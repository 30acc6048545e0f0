"""The asyncio client works against the node too (it cancels BatchAppend right after a reply)."""

from __future__ import annotations

import asyncio

from kurrentdbclient import AsyncKurrentDBClient, NewEvent, StreamState


def test_async_client_appends_reads_and_subscribes(node, stream):
    async def scenario() -> tuple[list[int], list[int]]:
        client = AsyncKurrentDBClient(node.url)
        await client.connect()
        await client.append_to_stream(
            stream,
            events=[NewEvent(type="A", data=b"{}")] * 1,
            current_version=StreamState.NO_STREAM,
        )
        await client.append_to_stream(
            stream, events=NewEvent(type="B", data=b"{}"), current_version=0
        )
        read = [e.stream_position for e in await client.get_stream(stream)]
        subscription = await client.subscribe_to_stream(stream)
        seen = []
        async for event in subscription:
            seen.append(event.stream_position)
            if len(seen) == 2:
                break
        await subscription.stop()
        await client.close()
        return read, seen

    assert asyncio.run(scenario()) == ([0, 1], [0, 1])
