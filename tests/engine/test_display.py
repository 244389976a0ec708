import json

import pytest

from scaffold.engine.display import DisplayError, parse_display


def test_seed_display_format_parses():
    items = [
        {"kind": "table", "name": "foobar", "header": ["col1", "col2"], "data": [["v", 1]]},
        {"kind": "value", "name": "v", "data": "x", "color": "green"},
        {"kind": "pre", "name": "p", "data": "<b>raw</b>"},
    ]
    out = parse_display(json.dumps(items).encode())
    assert out[0]["data"] == [["v", "1"]]
    assert out[1]["color"] == "green"
    assert out[2]["data"] == "<b>raw</b>"  # kept as text; escaping is the renderer's job


@pytest.mark.parametrize(
    "raw,message",
    [
        (b"{", "invalid JSON"),
        (b"{}", "expected a JSON array"),
        (b'[{"kind": "chart"}]', "item 0: 'kind' must be one of"),
        (b'[{"kind": "value", "data": "x", "color": "pink"}]', "'color' must be one of"),
        (b'[{"kind": "table", "data": "x"}]', "a table needs"),
        (b"[1]", "expected an object"),
    ],
)
def test_invalid_display(raw, message):
    with pytest.raises(DisplayError, match=message):
        parse_display(raw)


def test_empty_display_is_no_items():
    assert parse_display(b"  \n") == []
