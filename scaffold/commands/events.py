"""The server's live event stream (``GET /api/v1/events``, Server-Sent Events) for the client.

:class:`EventStream` connects first (so nothing that happens afterwards is missed), then yields
events. Log lines only come for the runs named with ``run=``, so :meth:`EventStream.subscribe`
adds a run and reconnects with ``Last-Event-ID``: the server replays what was missed under the new
subscription, including the run's first log lines. A dropped connection is resumed the same way.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from scaffold.commands.client import EXIT_SERVER, Api, CliError

log = logging.getLogger("scaffold.client")
RECONNECTS = 5  # in a row, before giving up
KEEPALIVE = "keepalive"


@dataclass
class Event:
    kind: str
    data: dict[str, Any] = field(default_factory=dict)
    id: int | None = None


def parse(lines: Iterator[str]) -> Iterator[Event]:
    """SSE framing: ``id:``, ``event:``, ``data:`` lines up to a blank line; comments are keepalives."""
    kind, data, event_id = "message", [], None
    for line in lines:
        if not line:
            if data:
                try:
                    payload = json.loads("\n".join(data))
                except ValueError:
                    payload = {"text": "\n".join(data)}
                yield Event(kind, payload if isinstance(payload, dict) else {"value": payload}, event_id)
            kind, data, event_id = "message", [], None
        elif line.startswith(":"):
            yield Event(KEEPALIVE)
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                kind = value
            elif name == "data":
                data.append(value)
            elif name == "id" and value.isdigit():
                event_id = int(value)


class EventStream:
    def __init__(self, api: Api, cascade: str | None, runs: set[str] | None = None):
        self.api = api
        self.cascade = cascade
        self.runs: set[str] = set(runs or ())
        self.last_id: int | None = None
        self._context: Any = None
        self._response: Any = None
        self._reopen = False
        self._closed = False

    def open(self) -> EventStream:
        import httpx

        params: list[tuple[str, str]] = [("cascade", self.cascade)] if self.cascade else []
        params += [("run", run) for run in sorted(self.runs)]
        headers = {"Last-Event-ID": str(self.last_id)} if self.last_id is not None else {}
        timeout = httpx.Timeout(30.0, read=60.0)  # the server sends a keepalive every 15 s
        self._context = self.api.stream("GET", "/events", params=params, headers=headers, timeout=timeout)
        self._response = self._context.__enter__()
        log.debug(
            "event stream open (cascade %s, runs %s, after %s)", self.cascade, sorted(self.runs), self.last_id
        )
        return self

    def close(self) -> None:
        """Stop for good (also ends an iteration running in another thread)."""
        self._closed = True
        self._disconnect()

    def _disconnect(self) -> None:
        if self._context is not None:
            context, self._context, self._response = self._context, None, None
            try:
                context.__exit__(None, None, None)
            except CliError:
                pass  # closing a broken connection

    def __enter__(self) -> EventStream:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def subscribe(self, run: str) -> None:
        """Also receive the log lines of ``run`` (``cascade:task:number``), from its start."""
        if run not in self.runs:
            self.runs.add(run)
            self._reopen = True

    def forget(self, run: str) -> None:
        """Stop asking for ``run``'s log lines (it has ended) at the next reconnection, so that the
        URL stays short however many runs a wave has."""
        self.runs.discard(run)

    def __iter__(self) -> Iterator[Event]:
        failures = 0
        while not self._closed:
            if self._response is None:
                self._reconnect(failures)
            try:
                for event in parse(self._response.iter_lines()):
                    failures = 0
                    if event.id is not None:
                        self.last_id = event.id
                    yield event
                    if self._reopen:
                        break
            except Exception as exc:  # httpx read errors while iterating
                if not self._closed:
                    log.info("event stream broke: %s", getattr(exc, "message", exc))
            if self._closed:
                return
            if not self._reopen:
                failures += 1
            self._reopen = False
            self._disconnect()

    def _reconnect(self, failures: int) -> None:
        while True:
            if failures > RECONNECTS:
                raise CliError("lost the server's event stream (it kept closing)", EXIT_SERVER)
            if failures:
                time.sleep(min(0.2 * 2**failures, 3.0))
            try:
                self.open()
                return
            except CliError as exc:
                if exc.exit_code != EXIT_SERVER:
                    raise  # e.g. 401: the token was revoked meanwhile
                log.info("cannot reconnect the event stream: %s", exc.message)
                failures += 1
