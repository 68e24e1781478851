"""The local vulnerability database: one SQLite file.

Written by hand on the standard library's sqlite3: the schema is ours (advisories of
every source normalised to `model.vuln`), and no library stores OSV-shaped data in a
form that is one indexed query per (ecosystem, name).

Layout: `advisory` (one row per (source, id)), `affected` (one row per package an
advisory names, ranges and versions as compact JSON, indexed by (ecosystem, name)),
`source` (per importer: origin, ETag/Last-Modified, when imported, counts, checksum) and
`meta` (schema version). Writers build a new file beside the old one and swap it in with
`os.replace`, so a failed import never leaves a broken database behind (`Writer`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from dockwarden.errors import InputError
from dockwarden.model.vuln import Advisory, Affected, Event, Range, Status

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE source(
    name TEXT PRIMARY KEY, origin TEXT NOT NULL, etag TEXT NOT NULL DEFAULT '',
    last_modified TEXT NOT NULL DEFAULT '', imported TEXT NOT NULL,
    advisories INTEGER NOT NULL, packages INTEGER NOT NULL,
    sha256 TEXT NOT NULL DEFAULT '', size INTEGER NOT NULL DEFAULT 0);
CREATE TABLE advisory(
    source TEXT NOT NULL, id TEXT NOT NULL, aliases TEXT NOT NULL, summary TEXT NOT NULL,
    severity TEXT NOT NULL, cvss_vector TEXT NOT NULL, cvss_score REAL,
    published TEXT NOT NULL, modified TEXT NOT NULL, refs TEXT NOT NULL,
    withdrawn TEXT NOT NULL, PRIMARY KEY(source, id)) WITHOUT ROWID;
CREATE TABLE affected(
    source TEXT NOT NULL, advisory TEXT NOT NULL, ecosystem TEXT NOT NULL,
    name TEXT NOT NULL, release TEXT NOT NULL, status TEXT NOT NULL, ranges TEXT NOT NULL,
    versions TEXT NOT NULL, fixed TEXT NOT NULL, severity TEXT NOT NULL,
    note TEXT NOT NULL);
CREATE INDEX affected_key ON affected(ecosystem, name);
"""


@dataclass(frozen=True, slots=True)
class SourceInfo:
    name: str  # "osv-PyPI", "debian-tracker", "alpine-secdb-3.11-main", ...
    origin: str  # URL or local path it came from
    imported: dt.datetime  # UTC
    advisories: int
    packages: int
    etag: str = ""
    last_modified: str = ""
    sha256: str = ""
    size: int = 0


# (name, source, advisory, status, ranges, versions, fixed, severity): `affected_rows`
AffectedRow = tuple[str, str, str, str, str, str, str, str]


class Details(NamedTuple):
    """The advisory columns that matching uses (`VulnDB.details`)."""

    aliases: tuple[str, ...]
    summary: str
    severity: str
    cvss_score: float | None
    references: tuple[str, ...]
    withdrawn: str


@dataclass(frozen=True, slots=True)
class Hit:
    """One `affected` row with the advisory it belongs to."""

    advisory: Advisory  # without `affected` filled in
    affected: Affected


_EVENT_KEYS = {"i": "introduced", "f": "fixed", "l": "last_affected", "m": "limit"}
_EVENT_SHORT = {v: k for k, v in _EVENT_KEYS.items()}


def _ranges_json(ranges: tuple[Range, ...]) -> str:
    out = []
    for r in ranges:
        evs = []
        for e in r.events:
            for key, short in _EVENT_SHORT.items():
                value = getattr(e, key)
                if value:
                    evs.append([short, value])
                    break
        out.append([r.type, evs])
    return json.dumps(out, separators=(",", ":"))


def _ranges_from(text: str) -> tuple[Range, ...]:
    out = []
    for typ, evs in json.loads(text):
        events = []
        for key, value in evs:
            events.append(Event(**{_EVENT_KEYS[key]: value}))
        out.append(Range(typ, tuple(events)))
    return tuple(out)


class VulnDB:
    """A read-only view of the database file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.is_file():
            raise InputError(f"{path}: no vulnerability database",
                             "run `dockwarden db update` (online) or `dockwarden db import FILE`")
        try:
            self._con = sqlite3.connect(f"file:{path}?mode=ro", uri=True,
                                        check_same_thread=False)
            version = self._con.execute(
                "SELECT value FROM meta WHERE key='schema'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{path}: not a dockwarden vulnerability database ({exc})",
                             "remove it and run `dockwarden db update`") from None
        if version is None or int(version[0]) != SCHEMA_VERSION:
            raise InputError(f"{path}: database schema {version and version[0]} is not "
                             f"{SCHEMA_VERSION}", "run `dockwarden db update` to rebuild it")
        self._adv_cache: dict[tuple[str, str], Advisory] = {}
        self._details: dict[tuple[str, str], Details | None] = {}

    def clear_caches(self) -> None:
        """Forget the advisories decoded so far (for benchmarks: a fresh view)."""
        self._adv_cache.clear()
        self._details.clear()

    def close(self) -> None:
        self._con.close()

    def sources(self) -> list[SourceInfo]:
        rows = self._con.execute(
            "SELECT name, origin, imported, advisories, packages, etag, last_modified, "
            "sha256, size FROM source ORDER BY name").fetchall()
        return [SourceInfo(r[0], r[1], dt.datetime.fromisoformat(r[2]), r[3], r[4], r[5], r[6],
                           r[7], r[8]) for r in rows]

    def oldest_import(self) -> dt.datetime | None:
        srcs = self.sources()
        return min((s.imported for s in srcs), default=None)

    def _advisory(self, source: str, adv_id: str) -> Advisory:
        key = (source, adv_id)
        adv = self._adv_cache.get(key)
        if adv is None:
            r = self._con.execute(
                "SELECT aliases, summary, severity, cvss_vector, cvss_score, published, "
                "modified, refs, withdrawn FROM advisory WHERE source=? AND id=?",
                key).fetchone()
            if r is None:  # an affected row without its advisory: keep the id at least
                adv = Advisory(adv_id, source)
            else:
                adv = Advisory(adv_id, source, tuple(json.loads(r[0])), r[1], r[2], r[3], r[4],
                               r[5], r[6], tuple(json.loads(r[7])), r[8])
            self._adv_cache[key] = adv
        return adv

    def lookup(self, ecosystem: str, name: str) -> list[Hit]:
        """Every advisory naming this package (name already normalised), every release."""
        rows = self._con.execute(
            "SELECT source, advisory, release, status, ranges, versions, fixed, severity, note "
            "FROM affected WHERE ecosystem=? AND name=?", (ecosystem, name)).fetchall()
        return [Hit(self._advisory(r[0], r[1]),
                    Affected(ecosystem, name, r[2], Status(r[3]), _ranges_from(r[4]),
                             tuple(json.loads(r[5])), r[6], r[7], r[8]))
                for r in rows]

    _CHUNK = 500  # names or ids per query, well below SQLite's limit on parameters

    def affected_rows(self, ecosystem: str, names: Sequence[str],
                      releases: Collection[str] | None = None
                      ) -> dict[str, list[AffectedRow]]:
        """The `affected` rows of many packages of one ecosystem (names normalised) in a
        few queries, optionally only those of these releases and of no release (""):
        name -> rows of (name, source, advisory, status, ranges, versions, fixed,
        severity), each package's rows in the order of the (ecosystem, name) index, as
        `lookup` returns them. Names without rows are absent. The advisories' own columns
        are left to `details`, for the rows that turn out to matter."""
        params_tail: list[str] = []
        sql_tail = ""
        if releases is not None:
            wanted = sorted({*releases, ""})
            sql_tail = f" AND release IN ({','.join('?' * len(wanted))})"
            params_tail = wanted
        out: dict[str, list[AffectedRow]] = {}
        for start in range(0, len(names), self._CHUNK):
            chunk = names[start:start + self._CHUNK]
            sql = ("SELECT name, source, advisory, status, ranges, versions, fixed, severity "
                   f"FROM affected WHERE ecosystem=? AND name IN ({','.join('?' * len(chunk))})"
                   + sql_tail)
            for row in self._con.execute(sql, [ecosystem, *chunk, *params_tail]):
                rows = out.get(row[0])
                if rows is None:
                    rows = out[row[0]] = []
                rows.append(row)
        return out

    def details(self, keys: Iterable[tuple[str, str]]
                ) -> Mapping[tuple[str, str], Details | None]:
        """The columns matching needs of these (source, advisory id) pairs, fetched in a
        few queries and kept for later calls: a mapping that holds at least these keys,
        None for an id without an advisory row."""
        cache = self._details
        missing: dict[str, list[str]] = {}
        for source, adv_id in keys:
            if (source, adv_id) not in cache:
                ids = missing.get(source)
                if ids is None:
                    ids = missing[source] = []
                ids.append(adv_id)
        for source, ids in missing.items():
            ids = list(dict.fromkeys(ids))
            for adv_id in ids:
                cache[source, adv_id] = None
            for start in range(0, len(ids), self._CHUNK):
                chunk = ids[start:start + self._CHUNK]
                rows = self._con.execute(
                    "SELECT id, aliases, summary, severity, cvss_score, refs, withdrawn "
                    f"FROM advisory WHERE source=? AND id IN ({','.join('?' * len(chunk))})",
                    [source, *chunk]).fetchall()
                # the JSON columns of all rows decoded in one call: [[aliases, refs], ...]
                lists = json.loads("[" + ",".join(f"[{r[1]},{r[5]}]" for r in rows) + "]")
                for (adv_id, _a, summary, severity, score, _r, withdrawn), (aliases, refs) \
                        in zip(rows, lists, strict=True):
                    cache[source, adv_id] = Details(tuple(aliases), summary, severity, score,
                                                    tuple(refs), withdrawn)
        return cache

    def raw_lookup(self, ecosystem: str, name: str) -> list[tuple[Any, ...]]:
        """The bare rows of `lookup` (the benchmark's floor)."""
        return self._con.execute(
            "SELECT source, advisory, release, status, ranges, versions, fixed, severity, note "
            "FROM affected WHERE ecosystem=? AND name=?", (ecosystem, name)).fetchall()

    def counts(self) -> dict[str, int]:
        adv = self._con.execute("SELECT count(*) FROM advisory").fetchone()[0]
        aff = self._con.execute("SELECT count(*) FROM affected").fetchone()[0]
        return {"advisories": int(adv), "affected": int(aff)}


class Writer:
    """Builds a database: copies the sources it keeps from the current file into a new
    file beside it, adds (or replaces) sources, then `commit()` swaps the new file in
    atomically. Without `commit()` (an exception, an interrupted download) the old file
    stays as it was and the new one is removed.

        with Writer(path) as w:
            w.replace_source(info, advisories)
            w.commit()
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self._tmp.unlink(missing_ok=True)
        self._con = sqlite3.connect(self._tmp)
        self._con.execute("PRAGMA journal_mode=OFF")
        self._con.execute("PRAGMA synchronous=OFF")
        self._con.executescript(_SCHEMA)
        self._con.execute("INSERT INTO meta VALUES('schema', ?)", (str(SCHEMA_VERSION),))
        self._done = False
        if path.is_file():
            self._copy_existing()

    def _copy_existing(self) -> None:
        try:
            self._con.execute("ATTACH DATABASE ? AS old", (f"file:{self.path}?mode=ro",))
            version = self._con.execute("SELECT value FROM old.meta WHERE key='schema'") \
                .fetchone()
        except sqlite3.DatabaseError:
            return  # an unreadable old file is simply replaced
        if version is not None and int(version[0]) == SCHEMA_VERSION:
            for table in ("source", "advisory", "affected"):
                self._con.execute(f"INSERT INTO main.{table} SELECT * FROM old.{table}")
        self._con.commit()
        self._con.execute("DETACH DATABASE old")

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._done:
            self.abort()

    def source_names(self) -> list[str]:
        return [r[0] for r in self._con.execute("SELECT name FROM source")]

    def source(self, name: str) -> SourceInfo | None:
        r = self._con.execute(
            "SELECT name, origin, imported, advisories, packages, etag, last_modified, "
            "sha256, size FROM source WHERE name=?", (name,)).fetchone()
        if r is None:
            return None
        return SourceInfo(r[0], r[1], dt.datetime.fromisoformat(r[2]), r[3], r[4], r[5], r[6],
                          r[7], r[8])

    def drop_source(self, name: str) -> None:
        for table in ("affected", "advisory"):
            self._con.execute(f"DELETE FROM {table} WHERE source=?", (name,))
        self._con.execute("DELETE FROM source WHERE name=?", (name,))

    def replace_source(self, info: SourceInfo, advisories: Iterable[Advisory]) -> SourceInfo:
        """Replace everything of `info.name` with these advisories; returns the info with
        the counts filled in."""
        self.drop_source(info.name)
        n_adv = n_aff = 0
        adv_rows: list[tuple[Any, ...]] = []
        aff_rows: list[tuple[Any, ...]] = []
        for adv in advisories:
            n_adv += 1
            adv_rows.append((info.name, adv.id, json.dumps(list(adv.aliases)), adv.summary,
                             adv.severity, adv.cvss_vector, adv.cvss_score, adv.published,
                             adv.modified, json.dumps(list(adv.references)), adv.withdrawn))
            for a in adv.affected:
                n_aff += 1
                aff_rows.append((info.name, adv.id, a.ecosystem, a.name, a.release,
                                 a.status.value, _ranges_json(a.ranges),
                                 json.dumps(list(a.versions), separators=(",", ":")),
                                 a.fixed, a.severity, a.note))
            if len(aff_rows) > 5000 or len(adv_rows) > 5000:
                self._flush(adv_rows, aff_rows)
        self._flush(adv_rows, aff_rows)
        done = SourceInfo(info.name, info.origin, info.imported, n_adv, n_aff, info.etag,
                          info.last_modified, info.sha256, info.size)
        self._con.execute("INSERT INTO source(name, origin, imported, advisories, packages, "
                          "etag, last_modified, sha256, size) VALUES(?,?,?,?,?,?,?,?,?)",
                          (done.name, done.origin, done.imported.isoformat(), done.advisories,
                           done.packages, done.etag, done.last_modified, done.sha256,
                           done.size))
        return done

    def touch_source(self, name: str, imported: dt.datetime) -> None:
        """Record that a source was checked and had not changed (HTTP 304)."""
        self._con.execute("UPDATE source SET imported=? WHERE name=?",
                          (imported.isoformat(), name))

    def _flush(self, adv_rows: list[tuple[Any, ...]], aff_rows: list[tuple[Any, ...]]) -> None:
        self._con.executemany(
            "INSERT OR REPLACE INTO advisory VALUES(?,?,?,?,?,?,?,?,?,?,?)", adv_rows)
        self._con.executemany("INSERT INTO affected VALUES(?,?,?,?,?,?,?,?,?,?,?)", aff_rows)
        adv_rows.clear()
        aff_rows.clear()

    def commit(self) -> None:
        self._con.commit()
        self._con.execute("VACUUM")
        self._con.close()
        os.replace(self._tmp, self.path)
        self._done = True

    def abort(self) -> None:
        self._con.close()
        self._tmp.unlink(missing_ok=True)
        self._done = True


def iter_hits(db: VulnDB, keys: Iterable[tuple[str, str]]) -> Iterator[tuple[tuple[str, str],
                                                                             list[Hit]]]:
    """`lookup` for many (ecosystem, name) keys, each key once."""
    seen: set[tuple[str, str]] = set()
    for key in keys:
        if key not in seen:
            seen.add(key)
            yield key, db.lookup(*key)
