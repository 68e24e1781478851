"""Bounded JSON GETs to the Engine: keep-alive over its unix socket (one connection per
worker thread), over an ssh process per worker thread (collect/sshdial.py, the same
HTTP code), or through the Docker SDK (TCP, TLS).

Hand-written for the per-container requests of the Engine collector only: docker-py keys
its unix-socket connection pools by the full request URL, so every container inspect
opened a new connection and the worker threads queued on the pool lock (measured at 500
containers: 1.55 ms per inspect through the SDK, 0.31 ms with one reused connection per
thread).

Whatever answers on the Engine's address is not trusted, so every request is bounded:

- in time: `--timeout` bounds the whole request (connect, headers, body), not each read.
  The shared watchdog thread (`deadline.watchdog`) shuts the socket down when a
  request's deadline passes, so a server that sends one byte a second cannot hold a
  request; the body is read in chunks with the deadline checked between them;
- in size: each endpoint has a cap (`MAX_*` below); a Content-Length over it is refused
  before the body is read, and a body is never read past cap + 1 bytes;
- in decoding: JSON nested deeper than the interpreter's recursion limit, invalid JSON
  and invalid UTF-8 are an `EngineAnswerError`; lone surrogates (JSON `"\\ud800"`) are
  replaced by a visible `\\ud800` escape, so no string in a model can fail to encode;
  bodies over 1 MiB are decoded one at a time, so eight workers decoding hostile 16 MiB
  documents at once cannot multiply the memory a decode takes.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import socket
import threading
from typing import Any
from urllib.parse import quote

from dockwarden.deadline import Deadline, DeadlineExceeded, watchdog
from dockwarden.errors import DockwardenError

MiB = 1 << 20
MAX_INSPECT = 16 * MiB  # GET /containers/{id}/json: larger is an error for that container
MAX_LIST = 32 * MiB  # GET /containers/json, /volumes (tens of thousands of entries)
MAX_NETWORK = 16 * MiB  # GET /networks/bridge (lists every attached container)
MAX_TOP = 4 * MiB  # GET /containers/{id}/top
MAX_SMALL = 4 * MiB  # /_ping, /version, /info
MAX_EXEC = 1 * MiB  # GET /exec/{id}/json
MAX_BODY = MAX_LIST  # the largest cap of all (kept for callers that name it)
_CHUNK = 64 * 1024
_BIG_DECODE = 1 * MiB
_big_decode = threading.Lock()
_SURROGATE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class EngineGone(ConnectionError):
    """The Engine stopped answering (refused, reset, closed mid-response)."""


class EngineAnswerError(DockwardenError):
    """An Engine answer that is not the document the API describes (wrong types, too
    large, too deep, not JSON): what it was about could not be audited (exit 3)."""

    exit_code = 3


# -- decoding ----------------------------------------------------------------------------
def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", value)
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, dict):
        return {_scrub(k): _scrub(v) for k, v in value.items()}
    return value


def decode(body: bytes, what: str) -> Any:
    """The JSON value of `body` (None when empty), or EngineAnswerError."""
    if not body:
        return None
    try:
        if len(body) > _BIG_DECODE:
            with _big_decode:
                data = json.loads(body)
        else:
            data = json.loads(body)
        if _SURROGATE_BYTES.search(body):
            data = _scrub(data)
    except RecursionError:
        raise EngineAnswerError(f"the Engine's answer to {what} is nested too deeply") from None
    except ValueError as exc:  # invalid JSON or UTF-8
        reason = str(exc).splitlines()[0][:100] if str(exc) else type(exc).__name__
        raise EngineAnswerError(f"the Engine's answer to {what} is not JSON ({reason})") from None
    return data


def _error_body(body: bytes, what: str) -> Any:
    """The body of an error answer: its JSON, or its first 200 characters as a message."""
    try:
        return decode(body, what)
    except EngineAnswerError:
        return {"message": body[:200].decode("utf-8", "replace")}


def _too_large(what: str, cap: int) -> EngineAnswerError:
    return EngineAnswerError(f"the Engine's answer to {what} is larger than {cap // MiB} MiB",
                             "a document that large is not a real Engine's answer")


def _content_length(value: str | None) -> int | None:
    if value and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    return None


# -- unix socket -------------------------------------------------------------------------
class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path
        self.answered = False  # a complete answer came over it (it may go stale)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock

    def abort(self) -> None:
        """Break a blocked read or write (called from the watchdog thread)."""
        sock = self.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class UnixGetter:
    def __init__(self, socket_path: str, api_version: str | None, timeout: float) -> None:
        self.socket_path, self.version, self.timeout = socket_path, api_version, timeout
        self._local = threading.local()

    def _conn(self, fresh: bool = False) -> _UnixConnection:
        conn: _UnixConnection | None = getattr(self._local, "conn", None)
        if conn is None or fresh:
            if conn is not None:
                conn.close()
            conn = self._connection()
            self._local.conn = conn
        return conn

    def _connection(self) -> _UnixConnection:
        """A new (not yet connected) connection: over the unix socket here; the ssh
        getter (collect/sshdial.py) makes one over an ssh process instead."""
        return _UnixConnection(self.socket_path, self.timeout)

    def _may_retry(self, conn: _UnixConnection) -> bool:
        """Whether a request that `conn` lost (closed, reset) is tried once more on a
        new connection: when `conn` was kept alive from an earlier answer (the server
        may have closed it meanwhile), not when it was new (a new one would fail the
        same way; over ssh:// it would be a second login to a host that refused us)."""
        return conn.answered

    def get(self, path: str, *, max_bytes: int = MAX_SMALL, what: str = "",
            **params: str) -> tuple[int, Any]:
        """(status, decoded JSON body) of one GET, within `--timeout` and `max_bytes`.
        Raises EngineGone when the Engine is unreachable, DeadlineExceeded when the answer
        is not complete in time, EngineAnswerError when a 200 answer is too large or not
        JSON. An error status comes with its body (JSON, or {"message": text})."""
        what = what or f"GET {path}"
        url = f"/v{self.version}{quote(path)}" if self.version else quote(path)
        if params:
            url += "?" + "&".join(f"{k}={quote(v)}" for k, v in params.items())
        deadline = Deadline(self.timeout)
        for attempt in range(2):
            conn = self._conn(fresh=attempt > 0)
            may_retry = self._may_retry(conn)
            try:
                with watchdog(deadline, conn.abort):
                    if conn.sock is not None:
                        conn.sock.settimeout(deadline.timeout())
                    conn.request("GET", url, headers={"Host": "docker"})
                    resp = conn.getresponse()
                    body = _read(resp, conn, deadline, max_bytes, what)
                if deadline.expired():
                    raise EngineGone("cut off")  # the watchdog may have truncated the body
                conn.answered = True
                break
            except DockwardenError:
                conn.close()
                raise
            except (http.client.RemoteDisconnected, ConnectionResetError,
                    BrokenPipeError, http.client.BadStatusLine) as exc:
                conn.close()
                _check(deadline, what, exc)
                if attempt == 1 or not may_retry:
                    raise EngineGone(str(exc) or type(exc).__name__) from None
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                _check(deadline, what, exc)
                raise EngineGone(str(exc) or type(exc).__name__) from None
        if resp.status != 200:
            return resp.status, _error_body(body, what)
        return resp.status, decode(body, what)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()


def _check(deadline: Deadline, what: str, exc: BaseException) -> None:
    """Raise DeadlineExceeded if `exc` ended a request because its time was up."""
    if isinstance(exc, TimeoutError) or deadline.remaining() < 0.01:
        raise DeadlineExceeded(f"{what}: no complete answer within {deadline.seconds:g} s",
                               "the Engine may be overloaded or not a real Engine; raise "
                               "--timeout if it is only slow") from None


def _read(resp: http.client.HTTPResponse, conn: _UnixConnection, deadline: Deadline,
          cap: int, what: str) -> bytes:
    length = _content_length(resp.getheader("Content-Length"))
    if length is not None and length > cap:
        raise _too_large(what, cap)
    parts: list[bytes] = []
    total = 0
    while True:
        deadline.check(what)
        if conn.sock is not None:
            conn.sock.settimeout(deadline.timeout())
        chunk = resp.read1(min(_CHUNK, cap + 1 - total))
        if not chunk:
            break
        parts.append(chunk)
        total += len(chunk)
        if total > cap:
            raise _too_large(what, cap)
    if resp.length:  # the connection ended before Content-Length bytes came
        raise http.client.IncompleteRead(b"", resp.length)
    resp.close()  # complete: the connection is ready for the next request
    return b"".join(parts)


# -- the Docker SDK ----------------------------------------------------------------------
_current = threading.local()


class _Holder:
    """The urllib3 connection a request of this thread is using (for the watchdog)."""

    __slots__ = ("conn",)

    def __init__(self) -> None:
        self.conn: Any = None

    def abort(self) -> None:
        sock = getattr(self.conn, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _watched(cls: Any) -> Any:
    """A subclass of urllib3 connection class `cls` that tells the current request's
    holder which connection (hence which socket) it runs on."""

    def request(self: Any, *args: Any, **kwargs: Any) -> Any:
        holder = getattr(_current, "holder", None)
        if holder is not None:
            holder.conn = self
        return cls.request(self, *args, **kwargs)

    return type(cls.__name__, (cls,), {"request": request})  # same name in messages


def watch_sdk(api: Any) -> None:
    """Make the connections of `api` (a docker.APIClient) visible to the watchdog: its
    HTTP(S) pools get connection classes that register themselves. ssh:// adapters make
    their own pools and keep the per-read timeout for the headers (the body is still read
    in chunks under the deadline)."""
    for adapter in getattr(api, "adapters", {}).values():
        manager = getattr(adapter, "poolmanager", None)
        classes = getattr(manager, "pool_classes_by_scheme", None)
        if manager is None or not isinstance(classes, dict):
            continue
        patched = {}
        for scheme, pool_cls in classes.items():
            conn_cls = _watched(pool_cls.ConnectionCls)
            patched[scheme] = type(pool_cls.__name__, (pool_cls,),
                                   {"ConnectionCls": conn_cls})
        manager.pool_classes_by_scheme = patched


class SDKGetter:
    """The same interface over the Docker SDK (TCP, TLS, ssh)."""

    def __init__(self, api: Any, timeout: float = 30.0) -> None:
        self.api = api
        self.timeout = timeout

    def get(self, path: str, *, max_bytes: int = MAX_SMALL, what: str = "",
            **params: str) -> tuple[int, Any]:
        """As UnixGetter.get, through the SDK's session."""
        return self.request(path, max_bytes=max_bytes, what=what, versioned=True,
                            params=params)

    def request(self, path: str, *, max_bytes: int = MAX_SMALL, what: str = "",
                versioned: bool = True, params: dict[str, str] | None = None
                ) -> tuple[int, Any]:
        import requests

        what = what or f"GET {path}"
        base = self.api._url("{0}", "").rstrip("/") if versioned else self.api.base_url
        deadline = Deadline(self.timeout)
        holder = _Holder()
        _current.holder = holder
        resp: Any = None
        try:
            with watchdog(deadline, holder.abort):
                resp = self.api._get(base + quote(path), params=params or None, stream=True)
                length = _content_length(resp.headers.get("Content-Length"))
                if length is not None and length > max_bytes:
                    raise _too_large(what, max_bytes)
                parts: list[bytes] = []
                total = 0
                for chunk in resp.iter_content(_CHUNK):
                    deadline.check(what)
                    parts.append(chunk)
                    total += len(chunk)
                    if total > max_bytes:
                        raise _too_large(what, max_bytes)
            if deadline.expired():
                raise EngineGone("cut off")
        except DockwardenError:
            raise
        except requests.exceptions.RequestException as exc:
            _check(deadline, what, exc)
            raise EngineGone(str(exc).splitlines()[0] if str(exc) else "connection") from None
        except OSError as exc:
            _check(deadline, what, exc)
            raise EngineGone(str(exc) or type(exc).__name__) from None
        finally:
            _current.holder = None
            if resp is not None:
                resp.close()
        body = b"".join(parts)
        if resp.status_code != 200:
            return resp.status_code, _error_body(body, what)
        return resp.status_code, decode(body, what)

    def close(self) -> None:
        pass
