"""Masking of secret values in streamed logs and display items (SPEC 5).

A secret may arrive split across output chunks, so :class:`StreamMasker` holds back the end of a
chunk while it could still be the start of a secret, and releases it once it can't (or at flush).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

MASK = "********"


def _intervals(text: str, secrets: Iterable[str]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for secret in secrets:
        start = text.find(secret)
        while start != -1:
            spans.append((start, start + len(secret)))
            start = text.find(secret, start + 1)
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _apply(text: str, spans: list[tuple[int, int]]) -> str:
    if not spans:
        return text
    out, pos = [], 0
    for start, end in spans:
        out.append(text[pos:start])
        out.append(MASK)
        pos = end
    out.append(text[pos:])
    return "".join(out)


class Masker:
    """Replaces every occurrence of any secret with ``********``."""

    def __init__(self, secrets: Iterable[str]):
        # Longest first so that a secret containing another is masked whole.
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self.secrets)

    def mask(self, text: str) -> str:
        if not self.secrets:
            return text
        return _apply(text, _intervals(text, self.secrets))

    def mask_json(self, value: Any) -> Any:
        """Mask every string (keys included) inside a JSON-like value."""
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, list):
            return [self.mask_json(v) for v in value]
        if isinstance(value, dict):
            return {self.mask(str(k)): self.mask_json(v) for k, v in value.items()}
        return value

    def stream(self) -> StreamMasker:
        return StreamMasker(self)


class StreamMasker:
    """Masks a stream of text chunks; call :meth:`flush` at the end of the stream."""

    def __init__(self, masker: Masker):
        self._masker = masker
        self._pending = ""

    def feed(self, chunk: str) -> str:
        secrets = self._masker.secrets
        if not secrets:
            return chunk
        buf = self._pending + chunk
        spans = _intervals(buf, secrets)
        cut = len(buf) - self._held_suffix(buf, spans)
        for start, end in spans:  # never cut through a complete occurrence
            if start < cut < end:
                cut = end
        self._pending = buf[cut:]
        return _apply(buf[:cut], [(s, min(e, cut)) for s, e in spans if s < cut])

    def flush(self) -> str:
        rest, self._pending = self._pending, ""
        return self._masker.mask(rest)

    def _held_suffix(self, buf: str, spans: list[tuple[int, int]]) -> int:
        """Length of the longest suffix of ``buf`` that is a proper prefix of some secret."""
        best = 0
        for secret in self._masker.secrets:
            for k in range(min(len(secret) - 1, len(buf)), best, -1):
                if buf.endswith(secret[:k]):
                    best = k
                    break
        return best
