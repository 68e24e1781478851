"""The I/O of `dockwarden watch`: the Engine's event stream, stats and size samples,
exec and container inspects, log file sizes, and the webhook.

The event stream (`GET /events`) is one long chunked HTTP answer of JSON objects, one a
line; the getters of `collect/unixhttp.py` read whole bounded documents, so the stream is
read here: over the unix socket, or for ssh:// over one `ssh HOST docker system
dial-stdio` process (collect/sshdial.py's SSHConnection, the same http.client class over
a socketpair), with `http.client` (its response decodes the chunks); else (tcp://)
through the Docker SDK's session (`iter_content` yields the data as it comes). In all
cases lines are cut by hand with a bound (`MAX_EVENT_LINE`): a line longer than that
is dropped whole, never held; whatever answers on the Engine's address is not trusted.

Every field of an event that is shown is cleaned (`sanitize.clean`) and cut; an id is
only put into a request path when it is 64 lowercase hex digits. The other requests go
through the connection's getter (deadline and size cap per request).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import queue
import socket
import stat
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from dockwarden.collect.connection import Connection
from dockwarden.collect.inspect import check_exec, check_inspect, is_engine_id
from dockwarden.collect.unixhttp import (
    MAX_EXEC,
    MAX_INSPECT,
    MAX_LIST,
    MAX_SMALL,
    EngineAnswerError,
    EngineGone,
    _UnixConnection,
)
from dockwarden.deadline import DeadlineExceeded
from dockwarden.errors import UsageError
from dockwarden.sanitize import clean, excerpt

MAX_EVENT_LINE = 64 * 1024  # one event is a few hundred bytes (labels make it longer)
MAX_NAME = 128
MAX_ACTION = 64
_READ = 64 * 1024


class WatchError(Exception):
    """A request of the watch failed (Engine gone, slow, or a malformed answer)."""


@dataclass(frozen=True, slots=True)
class Event:
    """One container event, cleaned: only what the watch reads."""

    action: str  # "start", "exec_create", "oom", ... (the part before ": ")
    id: str  # the container id: 64 hex digits
    name: str  # cleaned and cut
    time: float  # seconds since the epoch
    time_nano: int
    exec_id: str | None = None
    exit_code: str = ""

    @property
    def key(self) -> tuple[int, str, str]:
        return (self.time_nano, self.id, self.action)


def _attr(attrs: dict[str, Any], key: str, limit: int) -> str:
    value = attrs.get(key)
    return excerpt(value, limit) if isinstance(value, str) else ""


def parse_event(line: bytes) -> Event | None:
    """The event of one line, or None when it is not a container event the watch can use
    (not JSON, wrong shape, not a container id)."""
    try:
        data = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    if data.get("Type", "container") != "container":
        return None
    actor = data.get("Actor")
    actor = actor if isinstance(actor, dict) else {}
    attrs = actor.get("Attributes")
    attrs = attrs if isinstance(attrs, dict) else {}
    cid = actor.get("ID", data.get("id"))
    if not is_engine_id(cid):
        return None
    raw_action = data.get("Action", data.get("status"))
    if not isinstance(raw_action, str):
        return None
    action = excerpt(raw_action.split(":", 1)[0].strip(), MAX_ACTION)
    nano = data.get("timeNano")
    if not isinstance(nano, int) or isinstance(nano, bool) or nano < 0:
        secs = data.get("time")
        nano = secs * 1_000_000_000 if isinstance(secs, int) and secs >= 0 else 0
    exec_id = attrs.get("execID")
    return Event(
        action=action, id=str(cid),
        name=_attr(attrs, "name", MAX_NAME).lstrip("/") or str(cid)[:12],
        time=nano / 1e9, time_nano=nano,
        exec_id=exec_id if is_engine_id(exec_id) else None,
        exit_code=_attr(attrs, "exitCode", 12),
    )


def split_lines(chunks: Iterable[bytes], max_len: int = MAX_EVENT_LINE
                ) -> Iterator[bytes | None]:
    """The lines of a byte stream, without their newline; None in place of a line longer
    than `max_len` (dropped as it comes: at most `max_len` bytes are ever held)."""
    buf = bytearray()
    skipping = False
    for chunk in chunks:
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            part = chunk[start:] if end < 0 else chunk[start:end]
            if not skipping:
                if len(buf) + len(part) > max_len:
                    skipping = True
                    buf.clear()
                else:
                    buf += part
            if end < 0:
                break
            if skipping:
                yield None
                skipping = False
            elif buf.strip():
                yield bytes(buf)
            buf.clear()
            start = end + 1


# -- the event stream -------------------------------------------------------------------

class EventStream:
    """One `GET /events` (container events, from `since`); `close` from another thread
    ends a blocked read."""

    def __init__(self, conn: Connection, since: str | None, timeout: float) -> None:
        self.conn, self.since, self.timeout = conn, since, timeout
        self._lock = threading.Lock()
        self._closed = False
        self._http: _UnixConnection | None = None
        self._resp: Any = None
        self.opened = False  # the Engine answered 200 (the stream is live)

    def _params(self) -> dict[str, str]:
        params = {"filters": json.dumps({"type": ["container"]})}
        if self.since:
            params["since"] = self.since
        return params

    def chunks(self) -> Iterator[bytes]:
        """The raw bytes of the stream as they come. EngineGone when it cannot be opened
        or ends."""
        if self.conn.socket_path is not None:
            yield from self._http_chunks(_UnixConnection(self.conn.socket_path, self.timeout))
        elif self.conn.scheme == "ssh":
            from dockwarden.collect.sshdial import SSHConnection, ssh_argv

            yield from self._http_chunks(SSHConnection(ssh_argv(self.conn.url), self.timeout))
        else:
            yield from self._sdk_chunks()
        raise EngineGone("the event stream ended")

    def _http_chunks(self, http_conn: _UnixConnection) -> Iterator[bytes]:
        """The stream over the getters' own connection class: the unix socket, or one
        `ssh HOST docker system dial-stdio` process (an SSHConnection is a
        _UnixConnection over a socketpair; closing it ends the process)."""
        version = getattr(self.conn.getter, "version", None)
        url = (f"/v{version}/events" if version else "/events") + "?" + "&".join(
            f"{k}={quote(v, safe='')}" for k, v in self._params().items())
        with self._lock:
            if self._closed:
                return
            self._http = http_conn
        try:
            http_conn.request("GET", url, headers={"Host": "docker"})
            resp = http_conn.getresponse()
            if resp.status != 200:
                raise EngineGone(f"GET /events answered HTTP {resp.status}")
            if http_conn.sock is not None:
                http_conn.sock.settimeout(None)  # events may be hours apart
            self.opened = True
            yield b""
            while True:
                chunk = resp.read1(_READ)
                if not chunk:
                    return
                yield chunk
        except (OSError, http.client.HTTPException, ValueError, EngineGone) as exc:
            why = str(exc) or type(exc).__name__
            http_conn.close()  # an ssh process has exited: its reason is known now
            failure = getattr(http_conn, "failure", None)
            raise EngineGone(failure if isinstance(failure, str) else why) from None
        finally:
            http_conn.close()

    def _sdk_chunks(self) -> Iterator[bytes]:
        import requests

        api = self.conn.api
        try:
            resp = api._get(api._url("/events"), params=self._params(), stream=True,
                            timeout=(self.timeout, None))
            with self._lock:
                if self._closed:
                    resp.close()
                    return
                self._resp = resp
            if resp.status_code != 200:
                raise EngineGone(f"GET /events answered HTTP {resp.status_code}")
            self.opened = True
            yield b""
            yield from resp.iter_content(chunk_size=None)
        except (requests.exceptions.RequestException, OSError, ValueError) as exc:
            raise EngineGone(str(exc).splitlines()[0] if str(exc) else
                             type(exc).__name__) from None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            http_conn, resp = self._http, self._resp
        if http_conn is not None:
            http_conn.abort()  # shuts the socket down (and kills an ssh process)
        if resp is not None:  # the SDK's stream: shut its socket down, then close
            conn = getattr(getattr(resp, "raw", None), "_connection", None)
            sock = getattr(conn, "sock", None)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(Exception):
                resp.close()


def since_arg(time_nano: int) -> str:
    """The `since` parameter for events from `time_nano` on (the Engine takes
    seconds.nanoseconds)."""
    return f"{time_nano // 1_000_000_000}.{time_nano % 1_000_000_000:09d}"


# -- one-document requests ----------------------------------------------------------------
def _get(conn: Connection, path: str, cap: int, what: str, **params: str) -> Any:
    try:
        status, data = conn.getter.get(path, max_bytes=cap, what=what, **params)
    except (EngineGone, DeadlineExceeded, EngineAnswerError) as exc:
        raise WatchError(clean(getattr(exc, "message", None) or exc)) from None
    if status != 200:
        message = data.get("message") if isinstance(data, dict) else None
        raise WatchError(f"{what}: HTTP {status} {excerpt(message or '', 120)}".strip())
    return data


def list_running(conn: Connection) -> list[tuple[str, str]]:
    """(id, cleaned name) of each running container."""
    data = _get(conn, "/containers/json", MAX_LIST, "GET /containers/json")
    out = []
    for row in data if isinstance(data, list) else []:
        if not isinstance(row, dict) or not is_engine_id(row.get("Id")):
            continue
        names = row.get("Names")
        name = names[0] if isinstance(names, list) and names and isinstance(names[0], str) \
            else row["Id"][:12]
        out.append((row["Id"], excerpt(name.lstrip("/"), MAX_NAME)))
    return out


def host_memory(conn: Connection) -> int:
    """The Engine host's memory (`MemTotal` of /info), 0 when not known: a stats memory
    limit at or above it is no limit of the container's own."""
    try:
        data = _get(conn, "/info", MAX_SMALL, "GET /info")
    except WatchError:
        return 0
    return _int(data.get("MemTotal")) if isinstance(data, dict) else 0


def inspect(conn: Connection, cid: str, size: bool = False) -> dict[str, Any]:
    """`GET /containers/ID/json` (shape checked); with `size`, SizeRw too."""
    if not is_engine_id(cid):
        raise WatchError("not a container id")
    params = {"size": "1"} if size else {}
    data = _get(conn, f"/containers/{cid}/json", MAX_INSPECT, "container inspect", **params)
    return _checked(check_inspect, data)


def inspect_exec(conn: Connection, exec_id: str) -> dict[str, Any]:
    data = _get(conn, f"/exec/{exec_id}/json", MAX_EXEC, "exec inspect")
    return _checked(check_exec, data)


def _checked(check: Callable[[Any], dict[str, Any]], data: Any) -> dict[str, Any]:
    """`check(data)`, its EngineAnswerError a WatchError."""
    try:
        return check(data)
    except EngineAnswerError as exc:
        raise WatchError(exc.message) from None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


@dataclass(frozen=True, slots=True)
class Stats:
    pids: int
    pids_limit: int
    memory: int  # usage without the inactive page cache, as `docker stats` shows it
    memory_limit: int


def stats(conn: Connection, cid: str) -> Stats | None:
    """One stats sample (None when the container is not running)."""
    data = _get(conn, f"/containers/{cid}/stats", MAX_SMALL, "container stats",
                stream="false", **{"one-shot": "true"})
    if not isinstance(data, dict):
        return None
    pids = data.get("pids_stats")
    pids = pids if isinstance(pids, dict) else {}
    mem = data.get("memory_stats")
    mem = mem if isinstance(mem, dict) else {}
    detail = mem.get("stats")
    detail = detail if isinstance(detail, dict) else {}
    usage = _int(mem.get("usage"))
    inactive = _int(detail.get("total_inactive_file")) or _int(detail.get("inactive_file"))
    if not pids and not mem:
        return None
    return Stats(pids=_int(pids.get("current")), pids_limit=_int(pids.get("limit")),
                 memory=max(0, usage - inactive), memory_limit=_int(mem.get("limit")))


def file_size(path: str) -> int | None:
    """The size of a regular file (stat only, never opened), or None."""
    if not path or "\x00" in path:
        return None
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


# -- the webhook --------------------------------------------------------------------------
def check_webhook(url: str) -> str:
    """`url` if it is an http(s) URL with a host, else UsageError."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - ValueError when out of range
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--webhook: not an http(s) URL: {excerpt(url, 100)!r}",
                         "e.g. --webhook https://alerts.example.com/hook")
    return url


class Webhook:
    """Posts each alert as JSON from its own thread: a bounded queue (an alert that does
    not fit is dropped and counted), a time limit per post, failures counted. The watch
    never waits for it."""

    QUEUE = 1000

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url, self.timeout = url, timeout
        self.sent = self.failed = self.dropped = 0
        self.last_error = ""
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(self.QUEUE)
        self._thread = threading.Thread(target=self._run, name="dockwarden-webhook",
                                        daemon=True)
        self._thread.start()

    def post(self, alert: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            self.dropped += 1

    def _run(self) -> None:
        import httpx

        from dockwarden.deadline import Deadline, watchdog

        client = httpx.Client(timeout=self.timeout, follow_redirects=False)
        try:
            while True:
                alert = self._queue.get()
                if alert is None:
                    return
                deadline = Deadline(self.timeout)
                try:
                    # httpx's timeout bounds each read; the watchdog bounds the whole post
                    with watchdog(deadline, client.close):
                        resp = client.post(self.url, json=alert)
                    if 200 <= resp.status_code < 300:
                        self.sent += 1
                    else:
                        self.failed += 1
                        self.last_error = f"HTTP {resp.status_code}"
                except Exception as exc:  # any failure is counted, never raised
                    self.failed += 1
                    self.last_error = excerpt(f"{type(exc).__name__}: {exc}", 160)
                    if client.is_closed:  # closed by the watchdog: a new one
                        client = httpx.Client(timeout=self.timeout, follow_redirects=False)
        finally:
            client.close()

    def close(self, wait: float) -> None:
        """Stop after the queued alerts, waiting at most `wait` seconds; what is still
        queued then is counted as dropped."""
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        self._thread.join(wait)
        if self._thread.is_alive():
            self.dropped += self._queue.qsize()
