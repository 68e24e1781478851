"""`db update` and `db import`: fetch or read the advisory sources and write them into the
database without ever leaving it broken.

Downloads go over HTTPS with httpx (plain HTTP only to a loopback host, for tests and
local mirrors), one source after another:

* conditional: the ETag and Last-Modified stored for the source's URL are sent back as
  If-None-Match / If-Modified-Since; a 304 keeps the source and records the check time;
* resumable: the body streams into `<name>.part` beside the database (with a small
  `.part.json` holding the URL and the validators of the response it belongs to); a cut
  connection leaves it there, and the next run asks for the rest with `Range` guarded by
  `If-Range`, so a file that changed in between is fetched whole again;
* checked: the size must equal Content-Length (or the Content-Range total), and the
  SHA-256 of what was received is recorded with the source.

Every downloaded or local file is then imported through `Writer`, which builds a new
database file and swaps it in with one rename. A source whose data turns out to be bad
(a corrupt zip, garbage, a decompression bomb, no advisories at all) is left out and the
others are written without it; when nothing could be fetched the database file is not
touched at all. Exit codes: 3 when a source was unreachable or cut off (old data kept),
2 when a source's data was refused.

Deadlines: `--timeout` bounds each whole request, not each read (a server trickling a
byte a second is cut off): a request must have its answer within `--timeout` seconds, and a
long download gets one more second for every `MIN_RATE` bytes (64 KiB) it has received, so
a large file on a slow but honest link (at least 64 KiB/s on average) completes, and a
trickle ends a little after `--timeout`. A watchdog shuts the connection down when the
time is up, so even a read blocked inside httpx ends (`_Guard`).

Credentials in a source URL (`https://user:pass@host/...`) are used for the request only:
what is stored in the database, the partial download's metadata, the output and every
message carry the URL without them (`public_url`).

Files beside the database: the downloads folder is 0700, the lock, `.part` and its
metadata 0600 and opened without following symlinks; a download that fills the disk is
removed, not kept for a resume.

Written on httpx by hand: the resume-and-validate rules above are a few dozen lines, and
no download library keeps its validators where we need them (the `source` table).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import ipaddress
import json
import os
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dockwarden import __version__
from dockwarden.deadline import Deadline, watchdog
from dockwarden.errors import DockwardenError, InputError, UsageError
from dockwarden.model.vuln import Advisory
from dockwarden.safeio import open_input, open_private, read_text
from dockwarden.vuln.db import (
    BadDatabase,
    CannotWrite,
    DatabaseUnusable,
    SourceInfo,
    VulnDB,
    Writer,
    WriterBusy,
    check_file,
    make_parent,
    real_path,
    recover,
    remove_dead_temps,
    shown,
    test_point,
    write_error,
    writer_lock,
)
from dockwarden.vuln.importers import Imported, expand, import_any
from dockwarden.vuln.importers.base import without_cyclic_gc
from dockwarden.vuln.importers.osv import ECOSYSTEMS

OSV_BUCKET = "https://osv-vulnerabilities.storage.googleapis.com"
DEBIAN_TRACKER = "https://security-tracker.debian.org/tracker/data/json"
ALPINE_SECDB = "https://secdb.alpinelinux.org"
ALPINE_RELEASES = ("3.19", "3.20", "3.21", "3.22")
MAX_DOWNLOAD = 4 << 30  # bytes of one source
MAX_SOURCES_FILE = 1 << 20  # bytes of a `--sources` file
MIN_RATE = 64 << 10  # bytes per second a download must average past its first --timeout

# errors that concern the whole run (the database, the disk), not one source's data
_WHOLE_RUN = (BadDatabase, CannotWrite, DatabaseUnusable, WriterBusy)


class SourceUnreachable(DockwardenError):
    """A source could not be fetched (network, HTTP error, cut off): old data kept."""

    exit_code = 3


@dataclass(frozen=True, slots=True)
class SourceSpec:
    url: str  # as given, credentials included: for the request only
    name: str = ""  # "" = named after what the file turns out to be (`import_any`)

    @property
    def public(self) -> str:
        """The URL without credentials: what is stored, shown and used as a key."""
        return public_url(self.url)


def public_url(url: str) -> str:
    """`url` without a `user:password@` part (unchanged when it has none)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def _scrub(text: str, url: str) -> str:
    """`text` with the credentials of `url` removed, wherever they appear."""
    public = public_url(url)
    if public == url:
        return text
    text = text.replace(url, public)
    userinfo = urlsplit(url).netloc.rpartition("@")[0]
    return text.replace(userinfo + "@", "").replace(userinfo, "***")


def default_sources() -> tuple[SourceSpec, ...]:
    osv = tuple(SourceSpec(f"{OSV_BUCKET}/{eco}/all.zip", f"osv-{eco}") for eco in ECOSYSTEMS)
    alpine = tuple(SourceSpec(f"{ALPINE_SECDB}/v{rel}/{repo}.json",
                              f"alpine-secdb-{rel}-{repo}")
                   for rel in ALPINE_RELEASES for repo in ("main", "community"))
    return (*osv, SourceSpec(DEBIAN_TRACKER, "debian-tracker"), *alpine)


def read_sources_file(path: Path) -> list[SourceSpec]:
    """One source a line: `URL [NAME]`; blank lines and `#` comments are ignored. Read as
    a regular file of at most 1 MiB (a FIFO or /dev/zero is refused, never read)."""
    lines = read_text(path, what="sources file", max_bytes=MAX_SOURCES_FILE).splitlines()
    specs = []
    for number, line in enumerate(lines, 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if len(words) > 2:
            raise InputError(f"{shown(path)}:{number}: expected `URL [NAME]`, got "
                             f"{shown(public_url(words[0]))} and {len(words) - 1} more words")
        check_url(words[0])
        specs.append(SourceSpec(words[0], words[1] if len(words) == 2 else ""))
    if not specs:
        raise InputError(f"{shown(path)}: no sources listed")
    return specs


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a bad port raises here)
    except ValueError:
        raise UsageError(f"{shown(public_url_safe(url))}: not a valid URL") from None
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and _loopback(parts.hostname):
        return
    if parts.scheme == "http":
        raise UsageError(f"{shown(public_url(url))}: plain HTTP refused for advisory data "
                         "(use https://; http:// is accepted for loopback hosts only)")
    raise UsageError(f"{shown(public_url(url))}: not an https:// URL")


def public_url_safe(url: str) -> str:
    """`public_url`, or the text before any `@` dropped when the URL does not parse."""
    try:
        return public_url(url)
    except ValueError:
        return url.rpartition("@")[2]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one source."""

    origin: str  # URL or path
    source: str  # the source name ("" when it failed before it could be recognised)
    state: str  # "updated", "not-modified" or "failed"
    advisories: int = 0
    packages: int = 0
    downloaded: int = 0  # bytes fetched this run
    resumed_from: int = 0  # offset a partial download was continued from
    message: str = ""  # the import tally, or why it failed
    exit_code: int = 0  # 2 (data refused) or 3 (unreachable) when it failed

    def as_dict(self) -> dict[str, Any]:
        return {"origin": self.origin, "source": self.source, "state": self.state,
                "advisories": self.advisories, "packages": self.packages,
                "downloaded": self.downloaded, "resumed_from": self.resumed_from,
                "message": self.message}


def exit_code(outcomes: Sequence[Outcome]) -> int:
    """3 when a source was unreachable, else 2 when one was refused, else 0."""
    codes = {o.exit_code for o in outcomes}
    return 3 if 3 in codes else 2 if 2 in codes else 0


# --- progress -----------------------------------------------------------------------------

Progress = Callable[[str, int, int | None], None]  # (label, done, total or None)


class RichProgress:
    """A transient rich progress bar on stderr: bytes while downloading, advisories while
    importing (labels starting with "importing")."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, TextColumn, TimeRemainingColumn
        from rich.progress import Progress as Bar

        self._bar = Bar(TextColumn("{task.description}"), BarColumn(),
                        TextColumn("{task.fields[detail]}"), TimeRemainingColumn(),
                        transient=True, console=Console(file=sys.stderr))
        self._tasks: dict[str, Any] = {}
        self._bar.start()

    def __call__(self, label: str, done: int, total: int | None) -> None:
        if label.startswith("importing"):
            detail = f"{done:,} advisories"
        else:
            detail = f"{done / 1048576:.1f}" + (f"/{total / 1048576:.1f}" if total else "") \
                + " MiB"
        task = self._tasks.get(label)
        if task is None:
            task = self._tasks[label] = self._bar.add_task(label, total=total, detail=detail)
        self._bar.update(task, completed=done, total=total, detail=detail)

    def stop(self) -> None:
        self._bar.stop()


def _quiet(label: str, done: int, total: int | None) -> None:
    return None


# --- downloading --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Fetched:
    spec: SourceSpec
    path: Path
    etag: str
    last_modified: str
    sha256: str
    size: int
    downloaded: int
    resumed_from: int


def downloads_dir(db_path: Path) -> Path:
    return db_path.parent / f".{db_path.name}.downloads"


def _key(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:20]


def _read_meta(meta: Path) -> dict[str, Any]:
    try:
        fd = open_private(str(meta), os.O_RDONLY)
    except InputError:
        return {}
    try:
        with os.fdopen(fd, "rb") as fh:
            value = json.loads(fh.read(1 << 16).decode("utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _write_meta(meta: Path, value: dict[str, str]) -> None:
    fd = open_private(str(meta), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(value))


def _validator(etag: str, last_modified: str) -> str:
    """What If-Range may carry: a strong ETag, else the Last-Modified date."""
    if etag and not etag.startswith("W/"):
        return etag
    return last_modified


def _content_range(value: str) -> tuple[int, int | None] | None:
    """(start, total or None) of `bytes START-END/TOTAL`."""
    unit, _, rest = value.partition(" ")
    span, _, total = rest.partition("/")
    start, _, _end = span.partition("-")
    if unit != "bytes" or not start.isdigit():
        return None
    return int(start), int(total) if total.isdigit() else None


class _Guard:
    """The deadline of one download (see the module docstring): `seconds` for the
    answer, plus a second for every MIN_RATE bytes received (`received` moves the
    deadline's end). The shared watchdog (`deadline.watchdog`) shuts down the request's
    sockets (found through httpcore's trace hook) when the time is up, which ends even a
    read blocked inside httpx."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = Deadline(seconds)
        self.start = self.deadline.end - seconds
        self.fired = False
        self._sockets: list[socket.socket] = []
        self._watching: Any = None

    def __enter__(self) -> _Guard:
        self._watching = watchdog(self.deadline, self._fire)
        self._watching.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._watching.__exit__(None, None, None)

    def received(self, total: int) -> None:
        self.deadline.end = self.start + self.seconds + total / MIN_RATE

    def expired(self) -> bool:
        return self.deadline.expired()

    def trace(self, name: str, info: dict[str, Any]) -> None:
        """httpcore's `trace` extension: note each new connection's socket."""
        if name.endswith("connect_tcp.complete"):
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if isinstance(sock, socket.socket):
                self._sockets.append(sock)
                if self.fired:
                    self._shut()

    def _fire(self) -> None:
        self.fired = True
        self._shut()

    def _shut(self) -> None:
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Download:
    """One source's download into the downloads folder (see the module docstring)."""

    def __init__(self, spec: SourceSpec, stored: SourceInfo | None, work: Path,
                 timeout: float, progress: Progress) -> None:
        self.spec = spec
        self.url = spec.public  # what is stored and shown
        self.stored = stored
        self.part = work / f"{_key(self.url)}.part"
        self.meta = work / f"{_key(self.url)}.part.json"
        self.done = work / f"{_key(self.url)}.download"
        self.timeout = timeout
        self.progress = progress
        self.label = spec.name or self.url.rsplit("/", 1)[-1] or self.url
        self.guard = _Guard(timeout)

    def _client(self) -> Any:
        import httpx

        host = urlsplit(self.spec.url).hostname or ""
        origin = self.url

        def vet(request: httpx.Request) -> None:
            """Every request, redirects included, goes to https or to loopback."""
            try:
                check_url(str(request.url))
            except UsageError:
                raise SourceUnreachable(f"{origin}: redirected to "
                                        f"{shown(public_url_safe(str(request.url)))}: refused "
                                        "(plain HTTP off loopback)") from None

        return httpx.Client(
            timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 30.0)),
            follow_redirects=True, trust_env=not _loopback(host),
            event_hooks={"request": [vet]},
            headers={"User-Agent": f"dockwarden/{__version__}",
                     "Accept-Encoding": "identity"})

    def run(self) -> _Fetched | None:
        """The fetched file, or None when the server says it has not changed."""
        import httpx

        url = self.url
        try:
            with self.guard, self._client() as client:
                return self._fetch(client, resume=True)
        except httpx.TimeoutException:
            raise SourceUnreachable(f"{url}: timed out{self._kept()}") from None
        except httpx.HTTPError as exc:
            if self.guard.fired:
                raise SourceUnreachable(self._late()) from None
            raise SourceUnreachable(
                f"{url}: {_scrub(_transport_message(exc), self.spec.url)}{self._kept()}") \
                from None
        except OSError as exc:
            import errno

            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                self._discard()
                raise CannotWrite(f"{url}: no space left on device for the download in "
                                  f"{shown(self.part.parent)}; the partial download was "
                                  "removed", "free some space and run `dockwarden db update` "
                                  "again; the database keeps its previous data") from None
            raise SourceUnreachable(f"{url}: cannot write the download beside the database: "
                                    f"{exc.strerror or exc}") from None
        except InputError as exc:
            if exc.message.startswith("cannot open") or "symlink" in exc.message:
                raise CannotWrite(exc.message, exc.hint) from None
            raise

    def _late(self) -> str:
        return (f"{self.url}: no complete answer within the deadline (--timeout "
                f"{self.timeout:g} s, plus 1 s per {MIN_RATE >> 10} KiB received)"
                f"{self._kept()}")

    def _kept(self) -> str:
        size = self.part.stat().st_size if self.part.exists() else 0
        if size:
            return f" after {size} bytes; the partial download is kept and resumed next time"
        return ""

    def _headers(self, resume: bool) -> tuple[dict[str, str], int]:
        headers: dict[str, str] = {}
        if self.stored is not None and self.stored.origin == self.url:
            if self.stored.etag:
                headers["If-None-Match"] = self.stored.etag
            if self.stored.last_modified:
                headers["If-Modified-Since"] = self.stored.last_modified
        offset = self.part.stat().st_size if resume and self.part.exists() else 0
        meta = _read_meta(self.meta) if offset else {}
        validator = _validator(str(meta.get("etag", "")), str(meta.get("last_modified", "")))
        if offset and meta.get("url") == self.url and validator:
            headers["Range"] = f"bytes={offset}-"
            headers["If-Range"] = validator
        else:
            offset = 0
        return headers, offset

    def _fetch(self, client: Any, resume: bool) -> _Fetched | None:
        headers, offset = self._headers(resume)
        url = self.url
        with client.stream("GET", self.spec.url, headers=headers,
                           extensions={"trace": self.guard.trace}) as resp:
            if resp.status_code == 304:
                if "If-None-Match" not in headers and "If-Modified-Since" not in headers:
                    raise SourceUnreachable(f"{url}: HTTP 304 to an unconditional request")
                return None
            if resp.status_code == 416 and offset:
                self._discard()
                return self._fetch(client, resume=False)
            if resp.status_code == 206 and offset:
                got = _content_range(resp.headers.get("Content-Range", ""))
                if got is None or got[0] != offset:
                    self._discard()
                    return self._fetch(client, resume=False)
                total = got[1]
            elif resp.status_code == 200:
                offset, total = 0, _int(resp.headers.get("Content-Length"))
            else:
                raise SourceUnreachable(f"{url}: HTTP {resp.status_code} "
                                        f"{shown(resp.reason_phrase)[:100]}".rstrip())
            if total is not None and total > MAX_DOWNLOAD:
                raise InputError(f"{url}: {total} bytes, more than {MAX_DOWNLOAD >> 30} GiB: "
                                 "refused")
            etag = resp.headers.get("ETag", "")[:1000]
            last_modified = resp.headers.get("Last-Modified", "")[:1000]
            if offset == 0:
                _write_meta(self.meta, {"url": url, "etag": etag,
                                        "last_modified": last_modified})
            else:
                meta = _read_meta(self.meta)
                etag = etag or str(meta.get("etag", ""))
                last_modified = last_modified or str(meta.get("last_modified", ""))
            received = self._stream(resp, offset, total)
        size = self.part.stat().st_size
        if total is not None and size != total:
            if size > total:
                self._discard()
            raise SourceUnreachable(f"{url}: received {size} of {total} bytes"
                                    f"{self._kept()}")
        digest = _sha256(self.part)
        os.replace(self.part, self.done)
        self.meta.unlink(missing_ok=True)
        return _Fetched(self.spec, self.done, etag, last_modified, digest, size, received,
                        offset)

    def _stream(self, resp: Any, offset: int, total: int | None) -> int:
        received = 0
        flags = os.O_RDWR | os.O_CREAT | (0 if offset else os.O_TRUNC)
        with os.fdopen(open_private(str(self.part), flags), "r+b") as fh:
            fh.seek(offset)
            fh.truncate()
            for chunk in resp.iter_raw():
                fh.write(chunk)
                received += len(chunk)
                self.guard.received(received)
                if self.guard.expired():
                    fh.close()
                    raise SourceUnreachable(self._late())
                if offset + received > MAX_DOWNLOAD:
                    fh.close()
                    self._discard()
                    raise InputError(f"{self.url}: more than {MAX_DOWNLOAD >> 30} GiB: "
                                     "refused")
                self.progress(self.label, offset + received, total)
            fh.flush()
        return received

    def _discard(self) -> None:
        self.part.unlink(missing_ok=True)
        self.meta.unlink(missing_ok=True)


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open_input(path, what="file", max_bytes=None) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _transport_message(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if "peer closed connection" in text or "incomplete" in text.lower():
        return "connection closed before the whole file arrived"
    return shown(text.splitlines()[0])[:300]


@contextlib.contextmanager
def _lock(db_path: Path) -> Iterator[None]:
    """One `db update`/`db import` per database at a time (`db.writer_lock` on the real
    path), with the database's folder made if absent, dead writers' temporary files
    removed and an interrupted transaction rolled back first."""
    make_parent(db_path)
    try:
        with writer_lock(db_path):
            remove_dead_temps(db_path)
            for stale in downloads_dir(db_path).glob("*.download"):  # a dead run's
                stale.unlink(missing_ok=True)
            if os.path.lexists(db_path):
                recover(db_path)
            yield
    except WriterBusy as exc:
        raise UsageError(exc.message) from None


# --- writing ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Job:
    origin: str
    path: Path
    name: str  # "" = as recognised
    etag: str = ""
    last_modified: str = ""
    sha256: str = ""
    size: int = 0
    downloaded: int = 0
    resumed_from: int = 0


def _checked(imported: Imported, progress: Progress) -> Iterator[Advisory]:
    """The advisories, with progress, refusing a source that yields none."""
    n = 0
    for adv in imported.advisories:
        n += 1
        if n % 2000 == 0:
            progress(f"importing {imported.source}", n, None)
        yield adv
    if n == 0:
        raise InputError(f"{imported.origin}: no advisories could be imported "
                         f"({imported.stats.summary()})")


def _job_failed(job: _Job, exc: BaseException) -> Outcome:
    """The outcome of a job whose data was refused (one line, credentials removed)."""
    if isinstance(exc, DockwardenError):
        message = exc.message
    else:  # a parser tripped on hostile data: this source fails, the others go on
        message = (f"{job.path}: the data could not be parsed ({type(exc).__name__}: "
                   f"{shown(str(exc))[:200]})")
    where = str(job.path)
    if where != job.origin:
        message = message.replace(where, job.origin)
    return Outcome(job.origin, job.name, "failed", downloaded=job.downloaded,
                   message=message, exit_code=2)


def _write(db_path: Path, jobs: list[_Job], touch: list[tuple[str, str]],
           now: dt.datetime, progress: Progress, replace: bool = False) -> list[Outcome]:
    """Import `jobs` and record the `touch` (origin, name) checks in one new database
    file. A job whose data is refused is dropped and the file rebuilt without it; when
    nothing is left to write the database is not touched. Errors of the database or the
    disk (`_WHOLE_RUN`) stop the run, the previous file kept."""
    failed: list[Outcome] = []
    if touch and not jobs and not replace:
        done = _touch_in_place(db_path, touch, now)
        if done is not None:
            return done
    while jobs or touch:
        done_now: list[Outcome] = []
        bad: tuple[_Job, Outcome] | None = None
        with Writer(db_path, replace=replace) as writer, without_cyclic_gc():
            for job in jobs:
                try:
                    imported = import_any(job.path, source=job.name or None)
                    info = SourceInfo(imported.source, job.origin, now, 0, 0, job.etag,
                                      job.last_modified, job.sha256, job.size)
                    info = writer.replace_source(info, _checked(imported, progress))
                except _WHOLE_RUN:
                    raise
                except (DockwardenError, ValueError, TypeError, KeyError, IndexError,
                        AttributeError, RecursionError, UnicodeError, OverflowError) as exc:
                    bad = (job, _job_failed(job, exc))
                    break
                done_now.append(Outcome(job.origin, info.name, "updated", info.advisories,
                                        info.packages, job.downloaded, job.resumed_from,
                                        imported.stats.summary()))
            if bad is None:
                for origin, name in touch:
                    writer.touch_source(name, now)
                    done_now.append(Outcome(origin, name, "not-modified"))
                test_point("update-before-commit")
                writer.commit()
                return failed + done_now
        jobs = [j for j in jobs if j is not bad[0]]
        failed.append(bad[1])
    return failed


def _touch_in_place(db_path: Path, touch: list[tuple[str, str]],
                    now: dt.datetime) -> list[Outcome] | None:
    """Only check times to record (every source answered 304): one small transaction on
    the file itself, atomic by SQLite's own journal (synchronous=FULL), rather than
    rewriting the whole database through `Writer`. None when the file itself is not
    writable (a read-only file in a writable folder): the caller then goes through
    `Writer`, which keeps the file's mode."""
    import sqlite3

    if not os.access(db_path, os.W_OK):
        return None
    try:
        con = sqlite3.connect(db_path, timeout=10)
        try:
            con.execute("PRAGMA synchronous=FULL")
            with con:
                con.executemany("UPDATE source SET imported=? WHERE name=?",
                                [(now.isoformat(), name) for _, name in touch])
                test_point("touch-in-transaction")
        finally:
            con.close()
    except sqlite3.Error as exc:
        raise write_error("record the check time in", db_path, exc) from None
    return [Outcome(origin, name, "not-modified") for origin, name in touch]


def _stored(db_path: Path, replace: bool = False) -> dict[str, SourceInfo]:
    """The sources of the current database by origin ({} when there is none). A file
    that cannot be read is BadDatabase (never silently replaced), unless `replace`."""
    if not os.path.lexists(db_path) or replace:
        return {}
    check_file(db_path)
    db = VulnDB(db_path)
    try:
        db.verify()
        return {public_url(s.origin): s for s in db.sources()}
    except DatabaseUnusable as exc:
        raise BadDatabase(exc.message, exc.hint) from None
    finally:
        db.close()


def update(db_path: Path, specs: Sequence[SourceSpec], *, timeout: float = 60.0,
           progress: Progress | None = None, now: dt.datetime | None = None,
           replace: bool = False) -> list[Outcome]:
    """Fetch every source and write what arrived (see the module docstring)."""
    for spec in specs:
        check_url(spec.url)
    show = progress or _quiet
    db_path = real_path(db_path)
    with _lock(db_path):
        stored = _stored(db_path, replace)
        work = downloads_dir(db_path)
        outcomes: list[Outcome] = []
        jobs: list[_Job] = []
        touch: list[tuple[str, str]] = []
        for spec in specs:
            before = stored.get(spec.public)
            try:
                fetched = _Download(spec, before, work, timeout, show).run()
            except _WHOLE_RUN:
                raise
            except DockwardenError as exc:
                outcomes.append(Outcome(spec.public,
                                        spec.name or (before.name if before else ""),
                                        "failed", message=_scrub(exc.message, spec.url),
                                        exit_code=exc.exit_code))
                continue
            if fetched is None:
                assert before is not None  # a 304 answers a conditional request only
                touch.append((spec.public, before.name))
                continue
            jobs.append(_Job(spec.public, fetched.path, spec.name, fetched.etag,
                             fetched.last_modified, fetched.sha256, fetched.size,
                             fetched.downloaded, fetched.resumed_from))
        test_point("update-downloaded")
        try:
            outcomes += _write(db_path, jobs, touch,
                               now or dt.datetime.now(dt.UTC), show, replace)
        finally:
            for job in jobs:
                job.path.unlink(missing_ok=True)
    order = {s.public: i for i, s in enumerate(specs)}
    return sorted(outcomes, key=lambda o: order.get(o.origin, len(order)))


def import_paths(db_path: Path, paths: Sequence[Path], *, name: str = "",
                 progress: Progress | None = None, now: dt.datetime | None = None,
                 replace: bool = False) -> list[Outcome]:
    """`db import`: local files and folders (air-gapped), through the same writer. With
    `replace`, the current file's data is not kept (nor read): the way to start afresh
    from a database that cannot be read."""
    for path in paths:
        if not path.exists():
            raise InputError(f"{shown(path)}: no such file or directory")
    files = [p for path in paths for p in expand(path)]
    if name and len(files) != 1:
        raise UsageError("--name names one source: give one file or OSV folder")
    jobs = []
    for path in files:
        size = path.stat().st_size if path.is_file() else 0
        digest = _sha256(path) if path.is_file() else ""
        jobs.append(_Job(str(path.resolve()), path, name, sha256=digest, size=size))
    db_path = real_path(db_path)
    with _lock(db_path):
        _stored(db_path, replace)  # refuses a database it cannot read, before any work
        return _write(db_path, jobs, [], now or dt.datetime.now(dt.UTC), progress or _quiet,
                      replace)


def reset(db_path: Path) -> list[Path]:
    """`db reset`: remove the database file (the real one, through a symlink), its
    journal and the downloads kept for resuming, under the writer lock. Returns what was
    removed."""
    import shutil

    db_path = real_path(db_path)
    if os.path.isdir(db_path):
        raise BadDatabase(f"{shown(db_path)} is a directory, not a vulnerability database: "
                          "not removed", "name the database file itself with --db")
    removed: list[Path] = []
    make_parent(db_path)
    with _lock_for_reset(db_path):
        for victim in (db_path, db_path.with_name(db_path.name + "-journal"),
                       db_path.with_name(db_path.name + "-wal"),
                       db_path.with_name(db_path.name + "-shm")):
            try:
                os.unlink(victim)
                removed.append(victim)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise write_error("remove", victim, exc) from None
        removed += remove_dead_temps(db_path)
        work = downloads_dir(db_path)
        for entry in sorted(os.listdir(work)) if work.is_dir() else []:
            if entry != "lock":
                target = work / entry
                if target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target, ignore_errors=True)
                else:
                    target.unlink(missing_ok=True)
                removed.append(target)
    return removed


@contextlib.contextmanager
def _lock_for_reset(db_path: Path) -> Iterator[None]:
    try:
        with writer_lock(db_path):
            yield
    except WriterBusy as exc:
        raise UsageError(exc.message) from None
