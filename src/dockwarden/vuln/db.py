"""The local vulnerability database: one SQLite file.

Written by hand on the standard library's sqlite3: the schema is ours (advisories of
every source normalised to `model.vuln`), and no library stores OSV-shaped data in a
form that is one indexed query per (ecosystem, name).

Layout: `advisory` (one row per (source, id)), `affected` (one row per package an
advisory names, ranges and versions as compact JSON, indexed by (ecosystem, name)),
`source` (per importer: origin, ETag/Last-Modified, when imported, counts, checksum) and
`meta` (schema version). Writers build a new file beside the old one and swap it in with
`os.replace`, so a failed import never leaves a broken database behind (`Writer`).

What is guaranteed, and how:

- the file opened is the file named: read-only opens use a URI with every special
  character escaped (`ro_uri`), and symlinks are resolved once (`real_path`), so the real
  file is what is locked, checked and swapped;
- an interrupted transaction is rolled back before anything reads the file (`recover`,
  under the writer lock), and a file that fails `PRAGMA quick_check`, has an unknown or
  newer schema, or is empty is never replaced by an import without `--replace`
  (`BadDatabase`, exit 2);
- a scan that was asked for a database it cannot use fails closed (`open_for_scan`
  raises `DatabaseUnusable`, exit 3), as does any SQLite error while matching;
- crash safety: the new file is fsynced before the rename and its folder after; its
  name carries the writer's pid, so the next writer removes a dead one's leftovers
  (`remove_dead_temps`);
- privacy: a folder dockwarden creates is 0700, a first database file 0600, the lock is
  opened without following symlinks; a replaced file keeps its mode and owner.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sqlite3
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from dockwarden.errors import DockwardenError, InputError
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


class CveScore(NamedTuple):
    """How another advisory of the database rates a CVE (`VulnDB.cve_scores`)."""

    score: float | None  # the highest CVSS score any advisory gives it
    severity: str  # that advisory's severity, or the worst word when none has a score
    source: str  # the source and id of the advisory it came from: "osv-GitHub GHSA-..."


# The severity words of the database, worst first (also the order vuln/match.py merges by).
SEVERITIES = ("critical", "high", "medium", "low")


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


class BadDatabase(InputError):
    """The database file cannot be used (missing, empty, not SQLite, damaged, an unknown
    schema, an interrupted transaction that cannot be rolled back): exit 2 for the `db`
    commands, which never replace such a file unless told to (`--replace`, `db reset`)."""


class DatabaseUnusable(DockwardenError):
    """A scan was asked to use a vulnerability database that cannot be used, or SQLite
    failed while matching: DW309/DW310 cannot be judged, the audit is incomplete (exit 3),
    never a silent pass."""

    exit_code = 3


class CannotWrite(DockwardenError):
    """The database (or its lock, temporary file, download) cannot be written: disk full,
    read-only folder, another user's lock. The previous database is kept as it was."""

    exit_code = 2


FRESH_HINT = ("keep a copy of it if it matters, then start fresh with "
              "`dockwarden db import --replace FILE|DIR` or `dockwarden db reset`")


def shown(path: str | os.PathLike[str]) -> str:
    """A path for a message (control characters made visible)."""
    from dockwarden.sanitize import clean

    return clean(os.fspath(path))


def real_path(path: str | os.PathLike[str]) -> Path:
    """The database's real location, symlinks resolved once: what is locked, checked
    and swapped (a symlinked `--db` keeps pointing at the new file)."""
    return Path(os.path.realpath(os.path.abspath(os.fspath(path))))


def ro_uri(path: str | os.PathLike[str]) -> str:
    """A read-only SQLite URI for `path`, every character that URIs give a meaning to
    (`%`, `?`, `#`, ...) escaped: the file opened is the file named."""
    from urllib.parse import quote

    return "file://" + quote(os.path.abspath(os.fspath(path)), safe="/") + "?mode=ro"


def test_point(name: str) -> None:
    """For the crash tests: `DOCKWARDEN_TEST_KILL_AT=<name>` kills this process with
    SIGKILL when it reaches the named point of an import or update;
    `DOCKWARDEN_TEST_PAUSE_AT=<name>` creates the file `DOCKWARDEN_TEST_PAUSE_FILE` there
    and sleeps (up to a minute), for a test to send a signal at a known point."""
    if os.environ.get("DOCKWARDEN_TEST_KILL_AT") == name:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get("DOCKWARDEN_TEST_PAUSE_AT") == name:
        import time

        with open(os.environ["DOCKWARDEN_TEST_PAUSE_FILE"], "w", encoding="utf-8"):
            pass
        time.sleep(60)


def _side_files(path: Path) -> list[Path]:
    """SQLite's journal or WAL files of `path` that exist (and are not empty)."""
    out = []
    for suffix in ("-journal", "-wal"):
        side = path.with_name(path.name + suffix)
        try:
            if side.stat().st_size > 0:
                out.append(side)
        except OSError:
            continue
    return out


def recover(path: Path) -> None:
    """Roll back an interrupted transaction (a hot journal, or a WAL) by one read-write
    open of the file, which SQLite does on the first read. Called with the writer lock
    held, or by a reader that found one (`VulnDB`), which takes the lock itself when it
    can. A file we cannot write is a `BadDatabase` naming what to do."""
    sides = _side_files(path)
    if not sides:
        return
    try:
        con = sqlite3.connect(path, timeout=10)
        try:
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
            con.execute("PRAGMA schema_version").fetchone()
        finally:
            con.close()
    except sqlite3.Error as exc:
        raise BadDatabase(
            f"{shown(path)}: an interrupted write left {shown(sides[0].name)} beside it, and "
            f"rolling it back failed ({exc})",
            f"run `dockwarden db status --db {shown(path)}` as a user who can write "
            f"{shown(path.parent)}; if that fails too, {FRESH_HINT}") from None


def check_file(path: Path) -> os.stat_result:
    """The database path's stat after the checks every use makes: it exists, is a regular
    file and is not empty (BadDatabase otherwise)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise BadDatabase(f"{shown(path)}: no vulnerability database",
                          "run `dockwarden db update` (online) or `dockwarden db import "
                          "FILE`") from None
    except OSError as exc:
        raise BadDatabase(f"cannot read the vulnerability database {shown(path)}: "
                          f"{exc.strerror}") from None
    import stat as st_mod

    if st_mod.S_ISDIR(st.st_mode):
        raise BadDatabase(f"{shown(path)} is a directory, not a vulnerability database",
                          "name the database file itself with --db (or DOCKWARDEN_DB), or "
                          "remove the directory")
    if not st_mod.S_ISREG(st.st_mode):
        raise BadDatabase(f"{shown(path)} is not a regular file, so not a vulnerability "
                          "database", "name the database file with --db")
    if st.st_size == 0:
        raise BadDatabase(f"{shown(path)}: an empty file (0 bytes), not a vulnerability "
                          "database", FRESH_HINT)
    return st


class VulnDB:
    """A read-only view of the database file. Opening recovers an interrupted
    transaction first (`recover`), opens the file by an escaped URI in read-only mode and
    checks the schema; every SQLite error while reading becomes `DatabaseUnusable`."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        real = real_path(path)
        check_file(real)
        if _side_files(real):
            _recover_as_reader(real)
        try:
            self._con = sqlite3.connect(ro_uri(real), uri=True, check_same_thread=False)
        except sqlite3.Error as exc:
            raise BadDatabase(f"{shown(path)}: cannot open the vulnerability database "
                              f"({exc})", FRESH_HINT) from None
        try:
            check_schema(self._con, "main", self.path)
        except BaseException:
            self._con.close()
            raise
        self._adv_cache: dict[tuple[str, str], Advisory] = {}
        self._details: dict[tuple[str, str], Details | None] = {}
        self._cve_scores: dict[str, CveScore | None] = {}

    def verify(self) -> None:
        """`PRAGMA quick_check`: a damaged file is a BadDatabase naming the first
        problem SQLite found."""
        try:
            rows = self._con.execute("PRAGMA quick_check(5)").fetchall()
        except sqlite3.Error as exc:
            raise BadDatabase(f"{shown(self.path)}: the vulnerability database is damaged "
                              f"({exc})", FRESH_HINT) from None
        problems = [str(r[0]) for r in rows if r[0] != "ok"]
        if problems:
            raise BadDatabase(f"{shown(self.path)}: the vulnerability database is damaged "
                              f"(SQLite's check: {shown(problems[0])[:200]})", FRESH_HINT)

    def _failed(self, exc: BaseException) -> DatabaseUnusable:
        return DatabaseUnusable(
            f"{shown(self.path)}: the vulnerability database could not be read "
            f"({type(exc).__name__}: {shown(str(exc))[:200]})",
            f"run `dockwarden db status` to check it; {FRESH_HINT}")

    # every read goes through one of these: an SQLite error (a damaged page, a file
    # swapped for garbage) or undecodable stored JSON is DatabaseUnusable, never a crash

    def sources(self) -> list[SourceInfo]:
        try:
            return self._sources()
        except (sqlite3.Error, ValueError, TypeError) as exc:
            raise self._failed(exc) from None

    def lookup(self, ecosystem: str, name: str) -> list[Hit]:
        """Every advisory naming this package (name already normalised), every release."""
        try:
            return self._lookup(ecosystem, name)
        except (sqlite3.Error, ValueError, TypeError, KeyError) as exc:
            raise self._failed(exc) from None

    def affected_rows(self, ecosystem: str, names: Sequence[str],
                      releases: Collection[str] | None = None
                      ) -> dict[str, list[AffectedRow]]:
        """See `_affected_rows`."""
        try:
            return self._affected_rows(ecosystem, names, releases)
        except sqlite3.Error as exc:
            raise self._failed(exc) from None

    def details(self, keys: Iterable[tuple[str, str]]
                ) -> Mapping[tuple[str, str], Details | None]:
        """See `_details_of`."""
        try:
            return self._details_of(keys)
        except (sqlite3.Error, ValueError, TypeError) as exc:
            raise self._failed(exc) from None

    def cve_scores(self, cves: Iterable[str]) -> Mapping[str, CveScore | None]:
        """See `_cve_scores_of`."""
        try:
            return self._cve_scores_of(cves)
        except (sqlite3.Error, ValueError, TypeError) as exc:
            raise self._failed(exc) from None

    def has_data(self, ecosystem: str, releases: Collection[str] | None = None) -> bool:
        """Whether any `affected` row is of this ecosystem (and, given `releases`, of one
        of these releases or of no release): whether a scan that finds nothing there
        means "no known vulnerability" or "no data". One indexed query; when the answer
        is no for a release, it reads every row of the ecosystem once."""
        try:
            sql = "SELECT 1 FROM affected WHERE ecosystem=?"
            params: list[str] = [ecosystem]
            if releases is not None:
                wanted = sorted({*releases, ""})
                sql += f" AND release IN ({','.join('?' * len(wanted))})"
                params += wanted
            return self._con.execute(sql + " LIMIT 1", params).fetchone() is not None
        except sqlite3.Error as exc:
            raise self._failed(exc) from None

    def raw_lookup(self, ecosystem: str, name: str) -> list[tuple[Any, ...]]:
        """The bare rows of `lookup` (the benchmark's floor)."""
        try:
            return self._raw_lookup(ecosystem, name)
        except sqlite3.Error as exc:
            raise self._failed(exc) from None

    def counts(self) -> dict[str, int]:
        try:
            return self._counts()
        except sqlite3.Error as exc:
            raise self._failed(exc) from None

    def clear_caches(self) -> None:
        """Forget the advisories decoded so far (for benchmarks: a fresh view)."""
        self._adv_cache.clear()
        self._details.clear()
        self._cve_scores.clear()

    def close(self) -> None:
        self._con.close()

    def _sources(self) -> list[SourceInfo]:
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

    def _lookup(self, ecosystem: str, name: str) -> list[Hit]:
        """Every advisory naming this package (name already normalised), every release."""
        rows = self._con.execute(
            "SELECT source, advisory, release, status, ranges, versions, fixed, severity, note "
            "FROM affected WHERE ecosystem=? AND name=?", (ecosystem, name)).fetchall()
        return [Hit(self._advisory(r[0], r[1]),
                    Affected(ecosystem, name, r[2], Status(r[3]), _ranges_from(r[4]),
                             tuple(json.loads(r[5])), r[6], r[7], r[8]))
                for r in rows]

    _CHUNK = 500  # names or ids per query, well below SQLite's limit on parameters

    def _affected_rows(self, ecosystem: str, names: Sequence[str],
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

    def _details_of(self, keys: Iterable[tuple[str, str]]
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

    def _cve_scores_of(self, cves: Iterable[str]) -> Mapping[str, CveScore | None]:
        """How the advisories of every source rate these CVE ids: those whose id is the
        CVE or that name it among their aliases, not withdrawn, with a CVSS score or a
        severity. The highest score wins (its advisory's severity with it); without any
        score, the worst severity word. A mapping that holds at least these ids, None
        for an id no advisory rates; kept for later calls. Read-only: one scan of the
        rated advisories per 500 ids (aliases are JSON text, not indexed)."""
        cache = self._cve_scores
        wanted = list(dict.fromkeys(c for c in cves if c not in cache))
        for start in range(0, len(wanted), self._CHUNK):
            chunk = wanted[start:start + self._CHUNK]
            marks = ",".join("?" * len(chunk))
            best: dict[str, CveScore] = {}
            rows = self._con.execute(
                "SELECT source, id, aliases, severity, cvss_score FROM advisory "
                "WHERE withdrawn = '' AND (cvss_score IS NOT NULL OR severity <> '') "
                f"AND (id IN ({marks}) OR (instr(aliases, 'CVE-') > 0 AND EXISTS "
                f"(SELECT 1 FROM json_each(aliases) WHERE value IN ({marks}))))",
                [*chunk, *chunk]).fetchall()
            chosen = set(chunk)
            for source, adv_id, aliases, severity, score in rows:
                word = severity.lower() if severity.lower() in SEVERITIES else ""
                if score is None and not word:
                    continue
                mine = CveScore(float(score) if score is not None else None, word,
                                f"{source} {adv_id}")
                for cve in {adv_id, *json.loads(aliases)} & chosen:
                    have = best.get(cve)
                    if have is None or _better(mine, have):
                        best[cve] = mine
            for cve in chunk:
                cache[cve] = best.get(cve)
        return cache

    def _raw_lookup(self, ecosystem: str, name: str) -> list[tuple[Any, ...]]:
        """The bare rows of `lookup` (the benchmark's floor)."""
        return self._con.execute(
            "SELECT source, advisory, release, status, ranges, versions, fixed, severity, note "
            "FROM affected WHERE ecosystem=? AND name=?", (ecosystem, name)).fetchall()

    def _counts(self) -> dict[str, int]:
        adv = self._con.execute("SELECT count(*) FROM advisory").fetchone()[0]
        aff = self._con.execute("SELECT count(*) FROM affected").fetchone()[0]
        return {"advisories": int(adv), "affected": int(aff)}


def _better(a: CveScore, b: CveScore) -> bool:
    """Whether rating `a` beats `b`: a score beats none, a higher score a lower one;
    without scores the worse word (ties: the first source in name order)."""
    if a.score is not None or b.score is not None:
        if b.score is None:
            return True
        if a.score is None:
            return False
        return a.score > b.score or (a.score == b.score and a.source < b.source)
    ra = SEVERITIES.index(a.severity) if a.severity else len(SEVERITIES)
    rb = SEVERITIES.index(b.severity) if b.severity else len(SEVERITIES)
    return ra < rb or (ra == rb and a.source < b.source)


def check_schema(con: sqlite3.Connection, schema: str, path: Path) -> None:
    """The `meta.schema` of the attached database `schema` is ours (BadDatabase
    otherwise: not SQLite, not ours, a newer or unknown schema)."""
    try:
        version = con.execute(f"SELECT value FROM {schema}.meta WHERE key='schema'").fetchone()
    except sqlite3.Error as exc:
        raise BadDatabase(f"{shown(path)}: not a dockwarden vulnerability database ({exc})",
                          FRESH_HINT) from None
    value = None if version is None else str(version[0])
    if value is None or not value.isdigit():
        raise BadDatabase(f"{shown(path)}: unknown database schema {shown(str(value))!r} "
                          f"(this dockwarden writes schema {SCHEMA_VERSION})", FRESH_HINT)
    if int(value) > SCHEMA_VERSION:
        raise BadDatabase(f"{shown(path)}: database schema {value} was written by a newer "
                          f"dockwarden (this one reads schema {SCHEMA_VERSION})",
                          "upgrade dockwarden, or use another --db; the file is left as it is "
                          "(to discard it: `dockwarden db import --replace FILE|DIR` or "
                          "`dockwarden db reset`)")
    if int(value) != SCHEMA_VERSION:
        raise BadDatabase(f"{shown(path)}: database schema {value} is not {SCHEMA_VERSION}",
                          FRESH_HINT)


def _recover_as_reader(path: Path) -> None:
    """A reader found a journal or WAL beside the file: roll it back under the writer
    lock. When a writer holds the lock, the file is its business (SQLite's own locks
    keep a reader consistent); when we cannot take the lock (no write access), try the
    roll-back anyway, which fails with a clear message if it is needed and impossible."""
    try:
        with writer_lock(path, wait=5.0):
            recover(path)
    except WriterBusy:
        return
    except CannotWrite:
        recover(path)


def write_error(what: str, path: Path, exc: BaseException) -> CannotWrite:
    """A one-line CannotWrite for an OSError or sqlite3 error while writing."""
    import errno

    reason = getattr(exc, "strerror", None) or str(exc)
    code = getattr(exc, "errno", None)
    hint = "the database keeps its previous data"
    if code in (errno.ENOSPC, errno.EDQUOT) or "disk is full" in str(exc):
        reason = "no space left on device"
        hint = f"free space in {shown(path.parent)} and try again; {hint}"
    elif code in (errno.EACCES, errno.EPERM, errno.EROFS) or "readonly" in str(exc):
        hint = (f"run as a user who can write {shown(path.parent)}, or name another "
                f"database with --db; {hint}")
    return CannotWrite(f"cannot {what} {shown(path)}: {reason}", hint)


class WriterBusy(DockwardenError):
    """Another `db update`/`db import` holds this database's writer lock."""

    exit_code = 2


def _lock_dir(path: Path) -> Path:
    return path.parent / f".{path.name}.downloads"


@contextlib.contextmanager
def writer_lock(path: Path, wait: float = 0.0) -> Iterator[None]:
    """The writer lock of the database at the real path `path`: an exclusive `flock` on
    `<dir>/.<name>.downloads/lock`, a file opened without following symlinks, mode 0600
    in a 0700 folder. `wait` seconds for a busy lock, then WriterBusy."""
    import errno
    import fcntl
    import time

    from dockwarden.safeio import private_dir

    work = _lock_dir(path)
    try:
        private_dir(str(work))
    except InputError as exc:
        raise CannotWrite(f"{exc.message}: cannot lock the vulnerability database",
                          f"run as a user who can write {shown(path.parent)}, or name "
                          "another database with --db") from None
    lock = work / "lock"
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise CannotWrite(f"{shown(lock)} is a symlink: refused (someone planted it; "
                              "remove it)") from None
        owner = ""
        with contextlib.suppress(OSError):
            uid = os.lstat(lock).st_uid
            if uid != os.geteuid():
                owner = f" (owned by uid {uid})"
        raise CannotWrite(f"cannot open the lock {shown(lock)}{owner}: {exc.strerror}",
                          "run dockwarden db commands on this database as the user who "
                          "owns it, or name another database with --db") from None
    try:
        end = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() >= end:
                    raise WriterBusy(f"{shown(path)}: another `dockwarden db update` or "
                                     "`db import` is writing this database") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_dead_temps(path: Path) -> list[Path]:
    """Remove the temporary files (`.<name>.<pid>.tmp`) that writers killed before they
    finished left beside the database: those whose pid is no longer running (or is ours,
    a pid reused). Call with the writer lock held. Returns what was removed."""
    removed: list[Path] = []
    prefix = f".{path.name}."
    try:
        names = os.listdir(path.parent)
    except OSError:
        return removed
    for name in names:
        if not (name.startswith(prefix) and name.endswith((".tmp", ".tmp-journal"))):
            continue
        pid_text = name[len(prefix):].split(".", 1)[0]
        if not pid_text.isdigit():
            continue
        pid = int(pid_text)
        if pid != os.getpid() and _alive(pid):
            continue
        with contextlib.suppress(OSError):
            os.unlink(path.parent / name)
            removed.append(path.parent / name)
    return removed


def make_parent(path: Path) -> None:
    """The database's folder, created (each missing level) with mode 0700 whatever the
    umask; an existing folder is left as it is. CannotWrite when it cannot be made."""
    missing = []
    parent = path.parent
    while not os.path.exists(parent) and parent != parent.parent:
        missing.append(parent)
        parent = parent.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
            os.chmod(folder, 0o700)
        except FileExistsError:
            continue
        except OSError as exc:
            raise CannotWrite(f"cannot create the folder {shown(folder)} for the vulnerability "
                              f"database: {exc.strerror}",
                              "name a database in a writable place with --db PATH or "
                              "DOCKWARDEN_DB") from None
    if not os.path.isdir(path.parent):
        raise CannotWrite(f"cannot use {shown(path)}: {shown(path.parent)} is not a folder "
                          "(or cannot be reached)", "name the database with --db PATH or "
                          "DOCKWARDEN_DB")


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Writer:
    """Builds a database: copies the sources it keeps from the current file into a new
    file beside it, adds (or replaces) sources, then `commit()` swaps the new file in
    atomically. Without `commit()` (an exception, an interrupted download) the old file
    stays as it was and the new one is removed.

        with Writer(path) as w:
            w.replace_source(info, advisories)
            w.commit()

    The caller holds `writer_lock`. The path's symlinks are resolved once: the real file
    is copied and replaced. The current file is recovered (`recover`) and checked
    (`PRAGMA quick_check`, schema) before its data is copied; one that fails is never
    replaced silently (BadDatabase) unless `replace=True`. The new file keeps the old
    one's mode and owner (mode 0600 for a first file), is fsynced before the rename and
    its folder after; it is named `.<name>.<pid>.tmp`, so that a later writer removes it
    if this process dies (`remove_dead_temps`).
    """

    def __init__(self, path: Path, *, replace: bool = False) -> None:
        self.shown_path = Path(path)
        self.path = real_path(path)
        make_parent(self.path)
        self._old: os.stat_result | None = None
        if os.path.lexists(self.path) and not replace:
            self._old = self._check_old()
        elif os.path.isdir(self.path):
            raise BadDatabase(f"{shown(self.path)} is a directory, not a vulnerability "
                              "database", "name the database file itself with --db")
        elif os.path.lexists(self.path):
            with contextlib.suppress(OSError):
                self._old = os.stat(self.path)
        self._check_owner()
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self._done = False
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._tmp)
            fd = os.open(self._tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                         | os.O_CLOEXEC, 0o600)
            os.close(fd)
        except OSError as exc:
            raise write_error("write a new database beside", self.path, exc) from None
        try:
            self._con = sqlite3.connect(self._tmp)
            self._con.execute("PRAGMA journal_mode=OFF")
            self._con.execute("PRAGMA synchronous=OFF")  # the file is fsynced in `commit`
            self._con.executescript(_SCHEMA)
            self._con.execute("INSERT INTO meta VALUES('schema', ?)", (str(SCHEMA_VERSION),))
        except sqlite3.Error as exc:
            with contextlib.suppress(OSError):
                os.unlink(self._tmp)
            raise write_error("write a new database beside", self.path, exc) from None
        try:  # an exception here (Ctrl-C, SIGTERM) never reaches __exit__: clean up
            test_point("writer-created")
            if self._old is not None and not replace:
                self._copy_existing()
            test_point("writer-copied")
        except BaseException:
            self.abort()
            raise

    def _check_old(self) -> os.stat_result:
        """The current file, recovered and verified (BadDatabase when it fails)."""
        st = check_file(self.path)
        recover(self.path)
        old = VulnDB(self.path)
        try:
            old.verify()
        finally:
            old.close()
        return st

    def _check_owner(self) -> None:
        old = self._old
        if old is None or os.geteuid() == 0 or old.st_uid == os.geteuid():
            return
        raise CannotWrite(f"{shown(self.path)} belongs to uid {old.st_uid}: dockwarden would "
                          "replace it with a file of yours", "update it as its owner, or name "
                          "another database with --db")

    def _copy_existing(self) -> None:
        con = self._con
        try:
            con.execute("ATTACH DATABASE ? AS old", (ro_uri(self.path),))
        except sqlite3.Error as exc:
            raise BadDatabase(f"{shown(self.path)}: cannot open the vulnerability database "
                              f"({exc})", FRESH_HINT) from None
        check_schema(con, "old", self.path)
        try:
            for table in ("source", "advisory", "affected"):
                con.execute(f"INSERT INTO main.{table} SELECT * FROM old.{table}")
            con.commit()
        except sqlite3.OperationalError as exc:
            if "disk" in str(exc) or "I/O" in str(exc):
                raise write_error("write a new database beside", self.path, exc) from None
            raise BadDatabase(f"{shown(self.path)}: its data cannot be copied ({exc}): not "
                              "replaced", FRESH_HINT) from None
        except sqlite3.Error as exc:
            raise BadDatabase(f"{shown(self.path)}: its data cannot be copied ({exc}): not "
                              "replaced", FRESH_HINT) from None
        con.execute("DETACH DATABASE old")

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._done:
            self.abort()

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
        the counts filled in. Text SQLite cannot store (a lone surrogate from a feed's
        JSON) is an InputError of this source; a full disk is CannotWrite. Either way
        this Writer is then to be aborted (the new file has no journal to roll back)."""
        try:
            return self._replace_source(info, advisories)
        except UnicodeError as exc:
            raise InputError(f"{info.origin}: text that is not valid Unicode in the feed "
                             f"({type(exc).__name__}): source refused") from None
        except sqlite3.Error as exc:
            raise write_error("write a new database beside", self.path, exc) from None

    def _replace_source(self, info: SourceInfo, advisories: Iterable[Advisory]
                        ) -> SourceInfo:
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
        self._con.commit()
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
        """Swap the new file in: VACUUM, fsync the file, give it the old file's mode and
        owner, rename it over the real path, fsync the folder."""
        try:
            self._con.commit()
            self._con.execute("VACUUM")
            self._con.close()
            fd = os.open(self._tmp, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                if self._old is not None:
                    if os.geteuid() == 0 and (self._old.st_uid, self._old.st_gid) != \
                            (os.geteuid(), os.getegid()):
                        os.fchown(fd, self._old.st_uid, self._old.st_gid)
                    os.fchmod(fd, self._old.st_mode & 0o777)
                else:
                    os.fchmod(fd, 0o600)
                os.fsync(fd)
            finally:
                os.close(fd)
            test_point("writer-before-rename")
            os.replace(self._tmp, self.path)
            self._done = True
            test_point("writer-after-rename")
            _fsync_dir(self.path.parent)
        except (OSError, sqlite3.Error) as exc:
            self.abort()
            raise write_error("write", self.path, exc) from None

    def abort(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._con.close()
        if not self._done:
            with contextlib.suppress(OSError):
                os.unlink(self._tmp)
        self._done = True


def open_for_scan(path: str, asked: bool) -> VulnDB | None:
    """The database for an image scan's DW309/DW310, failing closed. None only when no
    database was asked for (`asked` False: no --db, no DOCKWARDEN_DB) and nothing exists
    at the default `path`; any other database that cannot be used (missing, a directory,
    empty, not SQLite, a newer or unknown schema, an interrupted transaction that cannot
    be rolled back, unreadable) is DatabaseUnusable (exit 3): the audit is incomplete,
    never a pass."""
    if not asked and not os.path.lexists(path):
        return None
    try:
        return VulnDB(Path(path))
    except DatabaseUnusable:
        raise
    except DockwardenError as exc:
        hint = exc.hint
        if "no vulnerability database" in exc.message:
            hint = ("run `dockwarden db update` (online) or `dockwarden db import FILE|DIR` "
                    "(offline), or fix --db / DOCKWARDEN_DB")
        raise DatabaseUnusable(f"vulnerability database unusable: {exc.message}",
                               hint) from None
