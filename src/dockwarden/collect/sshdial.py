"""ssh:// Engines reached the way the docker CLI reaches them: the system `ssh` client
runs `docker system dial-stdio` on the remote host, and the Engine API (HTTP/1.1) is
spoken over its standard input and output.

Written by hand rather than with paramiko (which the Docker SDK needs for ssh://) so
that the user's ssh configuration, agent, known_hosts, ProxyJump and ControlMaster
apply exactly as they do for `docker -H ssh://...`, and no ssh library is a dependency.

The ssh process gets one end of a socketpair as both stdin and stdout; the other end is
an ordinary stream socket, so the HTTP code of the unix-socket getter (keep-alive,
deadlines, the watchdog that shuts the socket down, body caps) runs unchanged over it.
One ssh process per connection, a small pool of them shared by the worker threads
(`MAX_SSH_CONNECTIONS`); the watchdog's abort also kills the process. What ssh printed
on stderr (bounded) becomes the one-line reason of a failure."""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import threading
from typing import IO, Any
from urllib.parse import urlsplit

from dockwarden.collect.unixhttp import MAX_SMALL, EngineGone, UnixGetter, _UnixConnection
from dockwarden.errors import UsageError
from dockwarden.sanitize import clean

_STDERR_CAP = 8192


def ssh_argv(url: str) -> list[str]:
    """The command line that dials the Engine of `url` (ssh://[USER@]HOST[:PORT]), as the
    docker CLI runs it: BatchMode (no password or host key prompt: a run is unattended)."""
    parts = urlsplit(url)
    if parts.scheme != "ssh" or not parts.hostname:
        raise UsageError(f"invalid Engine address {clean(url)!r}: ssh://[USER@]HOST[:PORT]")
    if parts.path not in ("", "/"):
        raise UsageError(f"invalid Engine address {clean(url)!r}: an ssh:// address has no "
                         "path")
    if parts.password is not None:
        raise UsageError(f"invalid Engine address {clean(url)!r}: no password in an ssh:// "
                         "address (use a key or ssh-agent)")
    host = parts.hostname
    if host.startswith("-"):
        raise UsageError(f"invalid Engine address {clean(url)!r}: host name starts with -")
    target = f"{parts.username}@{host}" if parts.username else host
    port = ["-p", str(parts.port)] if parts.port else []
    return ["ssh", "-o", "BatchMode=yes", *port, "--", target,
            "docker", "system", "dial-stdio"]


def reason(stderr: str) -> str | None:
    """The one-line cause of a failed dial from what ssh (and the remote shell) printed."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    text = "\n".join(lines)
    low = text.lower()
    if "host key verification failed" in low or "remote host identification has changed" \
            in low:
        return "ssh refused the host key (unknown or changed host: Host key verification " \
            "failed)"
    if "permission denied" in low and ("publickey" in low or "password" in low
                                       or "keyboard" in low):
        return "ssh authentication failed (" + _line(lines, "permission denied") + ")"
    if ("docker" in low and ("command not found" in low or "not found" in low)) \
            or "docker: no such file" in low:
        return "docker is not installed on the remote host (" + \
            _line(lines, "not found", "no such file") + ")"
    if "unknown command" in low and "dial-stdio" in low:
        return "the remote docker CLI has no `docker system dial-stdio` (too old)"
    if "cannot connect to the docker daemon" in low or "docker.sock" in low:
        return "the remote docker CLI cannot reach its Engine (" + \
            _line(lines, "cannot connect", "docker.sock") + ")"
    if not lines:
        return None
    return "ssh: " + lines[-1]


def _line(lines: list[str], *needles: str) -> str:
    for ln in lines:
        if any(n in ln.lower() for n in needles):
            return clean(ln[:200])
    return clean(lines[-1][:200]) if lines else ""


class _Drain(threading.Thread):
    """Reads ssh's stderr to its end, keeping the first `_STDERR_CAP` bytes (a remote
    that prints without end can neither block ssh nor grow memory)."""

    def __init__(self, stream: IO[bytes]) -> None:
        super().__init__(name="dockwarden-ssh-stderr", daemon=True)
        self.stream, self.data = stream, bytearray()

    def run(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            while chunk := self.stream.read1(4096):  # type: ignore[attr-defined]
                if len(self.data) < _STDERR_CAP:
                    self.data += chunk[: _STDERR_CAP - len(self.data)]
        with contextlib.suppress(OSError):
            self.stream.close()


class SSHConnection(_UnixConnection):
    """An HTTP connection over one `ssh ... docker system dial-stdio` process."""

    def __init__(self, argv: list[str], timeout: float) -> None:
        super().__init__("", timeout)
        self.argv = argv
        self.proc: subprocess.Popen[bytes] | None = None
        self.drain: _Drain | None = None
        self.failure: str | None = None  # the reason of the last failed dial, once known

    def connect(self) -> None:
        if shutil.which(self.argv[0]) is None:
            raise EngineGone(f"ssh not installed (no `{clean(self.argv[0])}` on PATH)")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            proc = subprocess.Popen(self.argv, stdin=theirs.fileno(), stdout=theirs.fileno(),
                                    stderr=subprocess.PIPE, close_fds=True,
                                    start_new_session=True)  # a Ctrl-C is ours to handle
        except OSError as exc:
            ours.close()
            raise EngineGone(f"cannot run ssh: {exc.strerror or exc}") from None
        finally:
            theirs.close()
        assert proc.stderr is not None
        self.drain = _Drain(proc.stderr)
        self.drain.start()
        ours.settimeout(self.timeout)
        self.sock, self.proc = ours, proc

    def abort(self) -> None:
        super().abort()
        self._kill()

    def _kill(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)

    def close(self) -> None:
        """Close the socket (ssh sees the end of its input and exits), wait a moment for
        it, then kill it; keep the reason ssh gave if it failed."""
        super().close()
        proc, drain = self.proc, self.drain
        self.proc = self.drain = None
        if proc is None:
            return
        try:
            proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=2)
        if drain is not None:
            drain.join(timeout=1)
            if proc.returncode not in (0, None):
                self.failure = reason(bytes(drain.data).decode("utf-8", "replace"))


# ssh connections per Engine. Each costs an ssh handshake and a start of the remote
# docker CLI (0.3-1 s, about 0.2 s of CPU for ssh and sshd); a request over an open one
# costs what it costs over the socket plus about 0.5 ms. What an ssh:// audit of 50
# containers spends its time on is the Engine's answer to the 50 process lists (`GET
# /containers/{id}/top`, 10-20 ms each in dockerd, one at a time per connection), which
# the unix-socket audit reads from /proc instead. A second connection halves that; more
# cost more handshake than they save (bench/fleet.py: 8 made the audit 4.5x slower).
MAX_SSH_CONNECTIONS = 2


class SSHGetter(UnixGetter):
    """UnixGetter over ssh: a pool of at most `connections` ssh processes (each kept
    alive between requests) shared by the worker threads, a request borrowing one;
    `shutdown` kills them all (the end of a run or of an Engine's deadline)."""

    def __init__(self, url: str, api_version: str | None, timeout: float,
                 connections: int = MAX_SSH_CONNECTIONS) -> None:
        super().__init__("", api_version, timeout)
        self.url = url
        self.argv = ssh_argv(url)
        self.connections = max(1, connections)
        self._all: list[SSHConnection] = []
        self._idle: list[SSHConnection] = []
        self._made = 0
        self._cond = threading.Condition()
        self._answered = False  # a request has been answered (the host lets us in)
        self._started_spares = False
        self._closed = False  # shut down: no spares any more

    def _connection(self) -> SSHConnection:
        conn = SSHConnection(self.argv, self.timeout)
        with self._cond:
            self._all = [c for c in self._all if c.proc is not None] + [conn]
        return conn

    def _may_retry(self, conn: _UnixConnection) -> bool:
        """Also a new connection, once this Engine has answered on another: a spare
        whose dial failed (sshd's MaxStartups, a network blip) costs one more dial, not
        the audit."""
        return conn.answered or self._answered

    def _borrow(self) -> SSHConnection | None:
        with self._cond:
            while not self._closed and not self._idle and self._made >= self.connections:
                self._cond.wait()
            if self._closed:  # the run's end or the Engine's deadline: no new ssh
                raise EngineGone("the connection to the Engine was closed")
            if self._idle:
                return self._idle.pop()
            self._made += 1
            return None  # make a new one (UnixGetter._conn does, on this thread)

    def _give_back(self, conn: SSHConnection | None, ok: bool) -> None:
        keep = False
        with self._cond:
            if conn is not None and ok and not self._closed:
                self._idle.append(conn)
                keep = True
            else:
                self._made -= 1
            if ok:
                self._answered = True
            self._cond.notify()
        if conn is not None and ok and not keep:  # shut down meanwhile: end its ssh
            conn.abort()
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn.close()

    def _start_spares(self) -> None:
        """Start the rest of the pool's ssh processes at once, when the second request
        comes: their handshakes (0.3-1 s each, bench/fleet.py) then run while this run
        does its other requests, instead of when the container inspects first need a
        second connection. Not before an answer, so a host that refuses us sees one
        attempt, not one per connection; not after the first answer alone, since a
        probe (`connect(sdk=True)`) ends the getter right after it. A spare waits at
        the cold end of the idle list, so a lone thread keeps using the connection that
        is already open."""
        with self._cond:
            if self._started_spares or self._closed:
                return
            self._started_spares = True
            wanted = self.connections - self._made
            self._made += wanted
        spares: list[SSHConnection] = []
        for _ in range(wanted):
            conn = SSHConnection(self.argv, self.timeout)
            try:
                conn.connect()
            except (OSError, EngineGone):
                conn.close()
                continue
            spares.append(conn)
        with self._cond:
            self._made -= wanted - len(spares)
            closed = self._closed
            if not closed:
                self._all += spares
                self._idle[:0] = spares
            self._cond.notify_all()
        if closed:
            for conn in spares:
                conn.abort()
                conn.close()

    def get(self, path: str, *, max_bytes: int = MAX_SMALL, what: str = "",
            **params: str) -> tuple[int, Any]:
        if self._answered and not self._started_spares:
            self._start_spares()
        self._local.conn = self._borrow()
        ok = False
        try:
            result = super().get(path, max_bytes=max_bytes, what=what, **params)
            ok = True
            return result
        except EngineGone as exc:
            conn = getattr(self._local, "conn", None)
            why = conn.failure if isinstance(conn, SSHConnection) else None
            raise EngineGone(why or str(exc)) from None
        finally:
            conn = getattr(self._local, "conn", None)
            self._local.conn = None
            if not ok and isinstance(conn, SSHConnection):
                conn.close()
            self._give_back(conn if isinstance(conn, SSHConnection) else None, ok)

    def close(self) -> None:
        self.shutdown()

    def shutdown(self) -> None:
        with self._cond:
            self._closed = True
            conns, self._all, self._idle = self._all, [], []
            self._cond.notify_all()
        for conn in conns:
            conn.abort()
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn.close()


# -- the Docker SDK over the same ssh processes (image export) ----------------------------
def sdk_client(url: str, version: str, timeout: float, pool_size: int) -> Any:
    """A docker.APIClient whose every request goes over `ssh HOST docker system
    dial-stdio` (the SDK's own ssh:// transport needs paramiko): one pool of at most
    `pool_size` kept-alive ssh processes, whatever the URL (the SDK's unix adapter keeps
    a pool per URL)."""
    import docker
    from docker.transport.unixconn import (
        UnixHTTPAdapter,
        UnixHTTPConnection,
        UnixHTTPConnectionPool,
    )

    argv = ssh_argv(url)

    class _Conn(UnixHTTPConnection):  # type: ignore[misc]
        dial: SSHConnection | None = None

        def connect(self) -> None:
            dial = SSHConnection(argv, self.timeout)
            dial.connect()
            self.dial, self.sock = dial, dial.sock

        def close(self) -> None:
            super().close()
            if self.dial is not None:
                self.dial.sock = None  # closed above
                self.dial.close()
                self.dial = None

    class _Pool(UnixHTTPConnectionPool):  # type: ignore[misc]
        def _new_conn(self) -> _Conn:
            return _Conn(self.base_url, self.socket_path, self.timeout)

    class _Adapter(UnixHTTPAdapter):  # type: ignore[misc]
        def get_connection(self, url: str, proxies: Any = None) -> Any:
            with self.pools.lock:
                pool = self.pools.get("ssh")
                if pool is None:
                    pool = _Pool("ssh", self.socket_path, self.timeout,
                                 maxsize=self.max_pool_size)
                    self.pools["ssh"] = pool
            return pool

        def get_connection_with_tls_context(self, request: Any, verify: Any,
                                            proxies: Any = None, cert: Any = None) -> Any:
            return self.get_connection(request.url, proxies)

    api = docker.APIClient(base_url="unix:///dockwarden-ssh", version=version,
                           timeout=timeout, max_pool_size=pool_size)
    api.trust_env = False
    adapter = _Adapter("http+unix:///dockwarden-ssh", timeout, max_pool_size=pool_size)
    api.mount("http+docker://", adapter)
    api._custom_adapter = adapter
    api.base_url = "http+docker://localhost"
    return api
