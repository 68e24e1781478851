"""The check catalogue as a Markdown table (the README's table is generated from it)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def catalogue(rows: Iterable[Mapping[str, Any]]) -> str:
    lines = ["| id | severity | title | references |", "| --- | --- | --- | --- |"]
    for r in rows:
        refs = "; ".join(r["references"])
        lines.append(f"| {r['id']} | {r['severity']} | {_cell(r['title'])} | {_cell(refs)} |")
    return "\n".join(lines) + "\n"
