"""What every importer shares: the tally of what was read and skipped, and bounded reads.

Importers turn untrusted bytes (a download, a file someone handed over) into advisories.
They never trust a size a file announces: every read is capped, and a document that is
not what it should be is skipped and counted, so one bad record never stops an import
and never goes unnoticed.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from dockwarden.errors import InputError

MAX_DOCUMENT = 16 << 20  # one OSV document, one member of a zip archive
MAX_FILE = 1 << 30  # one whole JSON file (the Debian tracker's is about 70 MiB)
MAX_TOTAL = 4 << 30  # everything decompressed from one archive
MAX_MEMBERS = 2_000_000  # members of one archive

# How many per-document problems are kept verbatim (the rest are only counted).
_KEEP_PROBLEMS = 20


@dataclass(slots=True)
class ImportStats:
    """Mutable tally filled in while an importer's iterator is consumed."""

    documents: int = 0  # documents (files, archive members, tracker entries) read
    advisories: int = 0  # advisories produced
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> count
    problems: list[str] = field(default_factory=list)  # the first few, "where: what"

    def skip(self, reason: str, where: str = "", detail: str = "") -> None:
        self.skipped[reason] += 1
        if where and len(self.problems) < _KEEP_PROBLEMS:
            self.problems.append(f"{where}: {detail or reason}")

    def summary(self) -> str:
        """`2661 advisories from 2661 documents; skipped 3 (2 not JSON, 1 ...)`"""
        text = f"{self.advisories} advisories from {self.documents} documents"
        total = sum(self.skipped.values())
        if total:
            parts = ", ".join(f"{n} {why}" for why, n in self.skipped.most_common())
            text += f"; skipped {total} ({parts})"
        return text


def read_capped(fh: IO[bytes], limit: int, what: str) -> bytes:
    """All of `fh`, or InputError if it holds more than `limit` bytes."""
    data = fh.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"{what}: larger than {limit >> 20} MiB, refused "
                         "(not a vulnerability data file, or a decompression bomb)")
    return data


def read_file(path: Path, limit: int = MAX_FILE) -> bytes:
    try:
        with path.open("rb") as fh:
            return read_capped(fh, limit, str(path))
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


def parse_json(data: bytes | str, what: str) -> Any:
    """The decoded document, or InputError naming the first problem."""
    try:
        return json.loads(data)
    except UnicodeDecodeError:
        raise InputError(f"{what}: not UTF-8 text, so not JSON") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{what}: not valid JSON ({exc.msg} at line {exc.lineno} "
                         f"column {exc.colno})") from None
    except RecursionError:
        raise InputError(f"{what}: JSON nested too deeply") from None


def text(value: Any) -> str:
    """A string field of untrusted JSON: the string, or "" for anything else."""
    return value if isinstance(value, str) else ""


_WS = re.compile(r"[ \t\n\r]*")


def _skip_ws(doc: str, i: int) -> int:
    m = _WS.match(doc, i)
    return m.end() if m else i


def decode_text(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{what}: not UTF-8 text, so not JSON") from None


def iter_object(doc: str, what: str) -> Iterator[tuple[str, Any]]:
    """The (key, value) pairs of a top-level JSON object, decoded one value at a time.

    The Debian tracker's JSON is one object of some 40,000 packages (about 70 MiB);
    decoding it whole would hold every package's dicts at once, this holds one."""
    dec = json.JSONDecoder()
    i = _skip_ws(doc, 0)
    if doc[i:i + 1] != "{":
        raise InputError(f"{what}: not a JSON object")
    i = _skip_ws(doc, i + 1)
    if doc[i:i + 1] == "}":
        i += 1
    else:
        while True:
            try:
                key, i = dec.raw_decode(doc, i)
                if not isinstance(key, str):
                    raise json.JSONDecodeError("expected a key", doc, i)
                i = _skip_ws(doc, i)
                if doc[i:i + 1] != ":":
                    raise json.JSONDecodeError("expected ':'", doc, i)
                i = _skip_ws(doc, i + 1)
                value, i = dec.raw_decode(doc, i)
            except json.JSONDecodeError as exc:
                raise InputError(f"{what}: not valid JSON ({exc.msg} at line {exc.lineno} "
                                 f"column {exc.colno})") from None
            except RecursionError:
                raise InputError(f"{what}: JSON nested too deeply") from None
            yield key, value
            i = _skip_ws(doc, i)
            sep = doc[i:i + 1]
            i += 1
            if sep == "}":
                break
            if sep != ",":
                raise InputError(f"{what}: not valid JSON (expected ',' or '}}' at offset "
                                 f"{i - 1})")
            i = _skip_ws(doc, i)
    if _skip_ws(doc, i) != len(doc):
        raise InputError(f"{what}: not valid JSON (extra data after the object)")
