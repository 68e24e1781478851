"""`db status` and the summaries `db update` / `db import` print: pure functions of the
database's source table and of the update outcomes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dockwarden.sanitize import clean
from dockwarden.vuln.db import SCHEMA_VERSION, BadDatabase, DatabaseUnusable, VulnDB
from dockwarden.vuln.update import Outcome, public_url


def age_text(seconds: float) -> str:
    """`45s`, `12m`, `3h 4m`, `2d 5h`."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def size_text(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


def status(db_path: Path, now: dt.datetime | None = None) -> dict[str, Any]:
    """What `db status --format json` prints. The file is recovered if a write was
    interrupted and checked with `PRAGMA quick_check`: no database, or one that cannot be
    used, is a BadDatabase (exit 2) saying what to do. Origins are shown without
    credentials, also those stored by an older dockwarden."""
    now = now or dt.datetime.now(dt.UTC)
    db = VulnDB(db_path)
    try:
        db.verify()
        sources = db.sources()
        counts = db.counts()
    except DatabaseUnusable as exc:
        raise BadDatabase(exc.message, exc.hint) from None
    finally:
        db.close()
    return {
        "path": str(db_path),
        "size": db_path.stat().st_size,
        "schema": SCHEMA_VERSION,
        "advisories": counts["advisories"],
        "affected": counts["affected"],
        "sources": [{
            "name": s.name, "origin": public_url(s.origin),
            "imported": s.imported.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "age_seconds": int((now - s.imported).total_seconds()),
            "advisories": s.advisories, "packages": s.packages, "etag": s.etag,
            "last_modified": s.last_modified, "sha256": s.sha256, "size": s.size,
        } for s in sources],
    }


def _table(rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [c.rjust(widths[i]) if i in right else c.ljust(widths[i])
                 for i, c in enumerate(row)]
        out.append("  ".join(cells).rstrip())
    return out


def render_status(data: dict[str, Any]) -> str:
    lines = [f"database  {clean(data['path'])}",
             f"size      {size_text(data['size'])}: {data['advisories']:,} advisories, "
             f"{data['affected']:,} affected packages (schema {data['schema']})"]
    if not data["sources"]:
        lines.append("no sources: run `dockwarden db update` or `dockwarden db import FILE`")
        return "\n".join(lines) + "\n"
    rows = [["source", "age", "advisories", "packages", "origin"]]
    rows += [[clean(s["name"]), age_text(s["age_seconds"]), f"{s['advisories']:,}",
              f"{s['packages']:,}", clean(s["origin"])] for s in data["sources"]]
    return "\n".join([*lines, "", *_table(rows, right={1, 2, 3})]) + "\n"


_STATES = {"updated": "updated", "not-modified": "not modified", "failed": "FAILED"}


def render_outcomes(outcomes: Sequence[Outcome], db_path: Path) -> str:
    rows = []
    for o in outcomes:
        if o.state == "updated":
            what = f"{o.advisories:,} advisories, {o.packages:,} packages"
            if o.downloaded:
                what += f", {size_text(o.downloaded)} downloaded"
            if o.resumed_from:
                what += f" (resumed at {size_text(o.resumed_from)})"
            skipped = o.message.partition("; skipped ")[2]
            if skipped:
                what += f"; skipped {skipped}"
        elif o.state == "not-modified":
            what = "unchanged since the last update"
        else:
            what = o.message.removeprefix(f"{o.origin}: ")
        rows.append([clean(o.source or o.origin), _STATES[o.state], clean(what)])
    lines = _table(rows, right=set()) if rows else []
    if db_path.is_file():
        lines.append(f"database {clean(str(db_path))} ({size_text(db_path.stat().st_size)})")
    return "\n".join(lines) + "\n"
