"""The live event stream: what a subscriber sees, run logs on request, resuming with Last-Event-ID."""

from __future__ import annotations

import asyncio
import json

from scaffold.executors.fake import Behavior


async def read_events(client, params, stop, headers=None, timeout=10.0):
    seen = []

    async def consume():
        async with client.stream("GET", "/api/v1/events", params=params, headers=headers or {}) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            current = {}
            async for line in response.aiter_lines():
                if line.startswith("id: "):
                    current["id"] = int(line[4:])
                elif line.startswith("event: "):
                    current["kind"] = line[7:]
                elif line.startswith("data: "):
                    seen.append({**current, **json.loads(line[6:])})
                    current = {}
                    if stop(seen):
                        return

    await asyncio.wait_for(consume(), timeout)
    return seen


def _wave_ended(seen):
    return any(e["kind"] == "wave" and e.get("state") == "ended" for e in seen)


async def test_states_stream_and_logs_only_for_subscribed_runs(server):
    server.executor.behaviors["plan"] = Behavior(logs=[b"planning step 1\n", b"planning step 2\n"])
    server.executor.behaviors["apply"] = Behavior(logs=[b"password hunter2-db-password applied\n"])
    client = server.client("writer_in")
    reader = asyncio.ensure_future(
        read_events(client, {"cascade": "ops-deploy", "run": "ops-deploy:plan:1"}, _wave_ended)
    )
    await asyncio.sleep(0.2)  # subscribed
    await client.post("/api/v1/cascades/ops-deploy/start", json={})
    seen = await reader
    states = [(e["task"], e["state"]) for e in seen if e["kind"] == "task"]
    assert ("plan", "running") in states and ("verify", "success") in states
    logs = "".join(e["text"] for e in seen if e["kind"] == "log")
    assert logs == "planning step 1\nplanning step 2\n"  # apply's log was not subscribed
    assert all(e["cascade"] == "ops-deploy" for e in seen)
    ids = [e["id"] for e in seen]
    assert ids == sorted(ids)


async def test_resume_with_last_event_id_replays_what_was_missed(server):
    client = server.client("writer_in")
    first = asyncio.ensure_future(read_events(client, {"cascade": "ops-deploy"}, _wave_ended))
    await asyncio.sleep(0.2)
    await client.post("/api/v1/cascades/ops-deploy/start", json={})
    seen = await first
    cut = seen[2]["id"]
    replay = await read_events(
        client, {"cascade": "ops-deploy"}, _wave_ended, headers={"Last-Event-ID": str(cut)}
    )
    assert [e["id"] for e in replay] == [e["id"] for e in seen if e["id"] > cut]


async def test_a_stale_last_event_id_asks_the_client_to_resync(server):
    client = server.client("reader_in")
    seen = await read_events(client, {}, lambda s: True, headers={"Last-Event-ID": "5"})
    assert seen[0]["kind"] == "resync"
