"""The one sanitising sink for text that comes from an audited system.

Container names, labels, environment, commands, image paths, Dockerfile lines, compose
values, registry answers and advisory ids are all attacker-controlled. Before any of them
reaches a renderer (or stderr) it goes through `clean`, which returns a string that is
safe to print on a terminal and to hand to any text format:

- C0 controls (ESC included), DEL and C1 controls are shown as visible escapes (`\\x1b`),
  so no terminal sequence can retitle, clear or recolour the user's terminal;
- Unicode bidirectional overrides and isolates are shown escaped (`\\u202e`), so text
  cannot be reordered on screen ("Trojan Source");
- lone surrogates (from `surrogateescape`d bytes or JSON `\\ud800`) and invalid UTF-8 are
  shown escaped, never raised;
- a backslash is kept as it is, so `clean` is idempotent: cleaning clean text changes
  nothing.

The text renderer builds plain strings, never Rich markup, so no markup escaping is
needed on top. HTML, Markdown,
SARIF and JUnit do their own escaping on top of `clean` at the renderer.

Written by hand: no library does this exact job (`rich.markup.escape` leaves control
characters; `repr` quotes and escapes too much for a report).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# C0 (tab and newline included), DEL, C1, bidi embeddings/overrides/isolates,
# line/paragraph separators, and surrogates (only lone ones can exist in a str).
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069\ud800-\udfff]"
)
_UNSAFE_LINES = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069"
    "\ud800-\udfff]"
)
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(m: re.Match[str]) -> str:
    ch = m.group()
    if ch in _SHORT:
        return _SHORT[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def clean(value: object, *, multiline: bool = False) -> str:
    """`value` as safe, printable text. Bytes are decoded as UTF-8 with invalid bytes
    shown as `\\xNN`. With `multiline`, newlines (and tabs) are kept as they are."""
    if isinstance(value, bytes | bytearray):
        text = bytes(value).decode("utf-8", "backslashreplace")
    elif isinstance(value, str):
        text = value
    else:
        text = str(value)
    if multiline:
        return _UNSAFE_LINES.sub(_escape, text)
    return _UNSAFE.sub(_escape, text)


def is_clean(text: str) -> bool:
    """True when `clean` would not change `text`."""
    return _UNSAFE.search(text) is None


def tree(value: Any) -> Any:
    """A JSON-like value (dicts, lists, tuples, scalars) with every string cleaned, keys
    included. Numbers, booleans and None pass as they are."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, bytes | bytearray):
        return clean(value)
    if isinstance(value, Mapping):
        return {clean(k) if isinstance(k, str) else k: tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [tree(v) for v in value]
    if isinstance(value, tuple):
        return tuple(tree(v) for v in value)
    return value


def excerpt(value: object, limit: int = 80) -> str:
    """A short, clean excerpt of untrusted text for an error message: at most `limit`
    characters of the first line, with `...` where it was cut."""
    text = clean(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
