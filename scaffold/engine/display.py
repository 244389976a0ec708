"""Parsing of ``/tmp/run/.display`` (SPEC 4): a JSON array of table, value and pre items."""

from __future__ import annotations

import json
from typing import Any

COLORS = {"green", "red", "yellow", "blue", "orange"}
KINDS = {"table", "value", "pre"}


class DisplayError(ValueError):
    pass


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def _item(index: int, item: Any) -> dict[str, Any]:
    where = f"item {index}"
    if not isinstance(item, dict):
        raise DisplayError(f"{where}: expected an object with 'kind', 'name' and 'data'")
    kind = item.get("kind")
    if kind not in KINDS:
        raise DisplayError(f"{where}: 'kind' must be one of table, value, pre (got {kind!r})")
    out: dict[str, Any] = {"kind": kind, "name": _text(item.get("name", ""))}
    color = item.get("color")
    if color is not None:
        if color not in COLORS:
            raise DisplayError(f"{where}: 'color' must be one of {', '.join(sorted(COLORS))} (got {color!r})")
        out["color"] = color
    data = item.get("data")
    if kind == "table":
        header = item.get("header", [])
        if (
            not isinstance(header, list)
            or not isinstance(data, list)
            or not all(isinstance(r, list) for r in data)
        ):
            raise DisplayError(f"{where}: a table needs 'header' (a list) and 'data' (a list of rows)")
        out["header"] = [_text(h) for h in header]
        out["data"] = [[_text(c) for c in row] for row in data]
    else:
        out["data"] = _text(data)
    return out


def parse_display(raw: bytes) -> list[dict[str, Any]]:
    """Return the normalised items (every cell a string) or raise :class:`DisplayError`."""
    if not raw.strip():
        return []
    try:
        items = json.loads(raw.decode("utf-8", errors="replace"))
    except json.JSONDecodeError as exc:
        raise DisplayError(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if not isinstance(items, list):
        raise DisplayError("expected a JSON array of display items")
    return [_item(i, item) for i, item in enumerate(items)]
