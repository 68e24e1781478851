"""Running CPU-heavy analyzers in a second process while the layer pass goes on.

The secret scan reads every text file outside the system trees; a file holding one of
its anchors (`token`, `secret`...) is decoded and scanned with regexes, which costs far
more than the walk itself. Analyzers that say `offload = True` are therefore run in one
forked worker: the walker still decides in its own process which files they want
(cheap), settles most of them there with the analyzer's `triage` (for the secret scan:
no anchor and no name rule, found in C), and hands the rest, `(analyzer, layer slot,
path, bytes)`, to `Worker.add`, which sends them in batches down a pipe. The worker
acknowledges each batch; when two batches are already waiting for it, the next one is
analysed in the walker's own process instead, so both CPUs stay busy whichever side is
slower, and memory stays bounded (at most two batches in flight). Results travel back
once, when the pass ends. The worker is only started once the walker has analysed 4 MiB
itself: most images never need it.

`Pool` keeps one forked worker per CPU that runs a function for each task (two numbers)
it is sent and brings the return value back: the walker reads pieces of a file-backed
image's layers that way (walker._Pass._drain).

Written on `os.fork` and pipes rather than `multiprocessing`: no start-up import,
no extra threads, and the worker inherits the analyzers as they are (no pickling of
them); file bytes go down the pipe with `os.writev`, not through pickle. A worker that
dies or fails is reported as a skipped analysis for its analyzers, never as an image
without secrets. Where `fork` is missing, or with one CPU, the analyzers simply run in
the walker's process.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import os
import pickle
import select
import signal
import struct
import sys
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from dockwarden.collect.image.analyzer import Analyzer

_LEN = struct.Struct("!Q")
_TASK = struct.Struct("!Iq")  # a task: two numbers
_ITEM = struct.Struct("!HIII")  # analyzer index, layer slot, path length, data length
BATCH_BYTES = 512 << 10
BATCH_ITEMS = 256
IN_FLIGHT = 2  # batches sent and not yet acknowledged before the walker works itself
START_AFTER = 4 << 20  # a fork is not worth it for less: small images never start one
PIPE_SIZE = 1 << 20
ACK = b"\x01"

Results = dict[str, dict[tuple[int, str], object]]


def available() -> bool:
    return hasattr(os, "fork") and (os.cpu_count() or 1) > 1


def _write_all(fd: int, parts: list[Any]) -> None:
    i = 0
    while i < len(parts):
        n = os.writev(fd, parts[i:i + 512])
        while i < len(parts) and n >= len(parts[i]):
            n -= len(parts[i])
            i += 1
        if n:
            parts[i] = memoryview(parts[i])[n:]


def _read_exact(fd: int, n: int) -> bytes | None:
    parts = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            return None
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


def _send_obj(fd: int, obj: object) -> None:
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    _write_all(fd, [_LEN.pack(len(payload)), payload])


def _recv_obj(fd: int) -> Any:
    head = _read_exact(fd, _LEN.size)
    if head is None:
        raise EOFError
    body = _read_exact(fd, _LEN.unpack(head)[0])
    if body is None:
        raise EOFError
    return pickle.loads(body)  # our own child process, over our own pipe


def _serve(rfd: int, wfd: int, analyzers: list[Analyzer]) -> None:
    """The worker: read batches (a count, then items) until a count of zero."""
    results: Results = {}
    skipped: list[tuple[str, str]] = []
    while True:
        head = _read_exact(rfd, _LEN.size)
        if head is None:
            raise EOFError
        count = _LEN.unpack(head)[0]
        if not count:
            break
        for _ in range(count):
            item = _read_exact(rfd, _ITEM.size)
            if item is None:
                raise EOFError
            index, slot, plen, dlen = _ITEM.unpack(item)
            raw = _read_exact(rfd, plen + dlen) if plen + dlen else b""
            if raw is None:
                raise EOFError
            path = raw[:plen].decode("utf-8", "surrogateescape")
            analyzer = analyzers[index]
            try:
                value = analyzer.analyze(path, raw[plen:])
            except Exception as exc:  # an analyzer must never abort the pass
                skipped.append((analyzer.name, f"{path}: {type(exc).__name__}: {exc}"))
                continue
            if value is not None:
                results.setdefault(analyzer.name, {})[(slot, path)] = value
        os.write(wfd, ACK)
    os.write(wfd, b"\x02")
    _send_obj(wfd, (results, skipped))


def _fork(body: Callable[[], None], close: Iterable[int]) -> int:
    """Fork; the child closes the descriptors `close`, runs `body` and exits, with status
    1 if it raised (it never returns from here); the parent gets the child's pid."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            for fd in close:
                os.close(fd)
            body()
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    return pid


class Pool:
    """`n` forked workers that run `fn(*task)` for the tasks (pairs of numbers) sent to
    them, one at a time and in the order sent, and send each return value back (the
    layer walker's pieces of layers). A worker may be sent a task before it has finished
    the one before (it starts on it at once, instead of waiting for the parent to come
    back from work of its own). The workers are forked once, up front, while the parent
    is still small: forking from a parent that has grown, once per task, costs more. A
    worker that stops (killed, crashed, `fn` raising) gives EOFError for each task it
    had from `wait` and takes no more."""

    _STOP = (0xFFFFFFFF, 0)

    def __init__(self, fn: Callable[[int, int], object], n: int) -> None:
        self._workers: list[tuple[int, int, int]] = []  # (pid, task pipe, result pipe)
        self.busy: dict[int, list[tuple[int, int]]] = {}  # worker -> its tasks, in order
        gc.freeze()  # the workers' collections then leave the parent's objects alone
        try:
            for _ in range(n):
                siblings = [fd for _, w, r in self._workers for fd in (w, r)]
                mine: list[int] = []
                try:
                    mine += os.pipe()  # task_r, task_w
                    mine += os.pipe()  # res_r, res_w
                    task_r, task_w, res_r, res_w = mine
                    pid = _fork(partial(self._serve, task_r, res_w, fn),
                                close=[task_w, res_r, *siblings])
                except OSError:
                    for fd in mine:
                        os.close(fd)
                    raise
                os.close(task_r)
                os.close(res_w)
                self._workers.append((pid, task_w, res_r))
        except OSError:  # no more pipes or processes: end those already made
            self.close()
            raise
        finally:
            gc.unfreeze()

    def _serve(self, task_r: int, res_w: int, fn: Callable[[int, int], object]) -> None:
        """A worker: run the tasks sent until told to stop."""
        while True:
            head = _read_exact(task_r, _TASK.size)
            if head is None or _TASK.unpack(head) == self._STOP:
                return
            _send_obj(res_w, fn(*_TASK.unpack(head)))

    def idle(self) -> list[int]:
        return [w for w, (pid, _, _) in enumerate(self._workers)
                if pid and w not in self.busy]

    def working(self, tasks: int) -> list[int]:
        """The live workers that have exactly `tasks` tasks."""
        return [w for w in self.busy if self._workers[w][0] and len(self.busy[w]) == tasks]

    def submit(self, worker: int, task: tuple[int, int]) -> None:
        with contextlib.suppress(OSError):  # it has gone: `wait` reports the task lost
            os.write(self._workers[worker][1], _TASK.pack(*task))
        self.busy.setdefault(worker, []).append(task)

    def wait(self, block: bool = True) -> list[tuple[tuple[int, int], Any]]:
        """(task, return value or EOFError) for each busy worker that has answered (its
        oldest task); blocks until one has, unless `block` is False."""
        if not self.busy:
            return []
        by_fd = {self._workers[w][2]: w for w in self.busy}
        poll = select.poll()  # not select(): descriptors may be numbered past 1023
        for fd in by_fd:
            poll.register(fd, select.POLLIN)
        out: list[tuple[tuple[int, int], Any]] = []
        for fd, _ in poll.poll(None if block else 0):
            worker = by_fd[fd]
            tasks = self.busy[worker]
            try:
                out.append((tasks[0], _recv_obj(fd)))
            except (OSError, EOFError, pickle.UnpicklingError, ValueError) as exc:
                out += [(task, EOFError(str(exc))) for task in tasks]
                self._end(worker, kill=True)
                continue
            del tasks[0]
            if not tasks:
                del self.busy[worker]
        return out

    def _end(self, worker: int, kill: bool = False) -> None:
        pid, task_w, res_r = self._workers[worker]
        if not pid:
            return
        with contextlib.suppress(OSError):
            if not kill:
                os.write(task_w, _TASK.pack(*self._STOP))
        for fd in (task_w, res_r):
            with contextlib.suppress(OSError):
                os.close(fd)
        if kill:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        self._workers[worker] = (0, -1, -1)
        self.busy.pop(worker, None)

    def close(self) -> None:
        """Stop the idle workers, kill the busy ones (an error or an interrupt)."""
        for worker in range(len(self._workers)):
            self._end(worker, kill=worker in self.busy)


class Worker:
    """One forked process analysing files for the offloaded analyzers; `add` either
    queues a file for it or, when it is behind, analyses the batch here."""

    def __init__(self, analyzers: Iterable[Analyzer]) -> None:
        self.list = list(analyzers)
        self.analyzers = {a.name: i for i, a in enumerate(self.list)}
        self.results: Results = {}  # what was analysed in this process
        self.skipped: list[tuple[str, str]] = []
        self._batch: list[tuple[int, int, str, bytes]] = []
        self._bytes = 0
        self._in_flight = 0
        self._here_bytes = 0  # analysed in this process so far
        self.pid = 0
        self._w = self._r = -1
        self.failed = ""

    def _start(self) -> None:
        to_child_r, to_child_w = os.pipe()
        to_parent_r, to_parent_w = os.pipe()
        with contextlib.suppress(OSError, AttributeError):
            fcntl.fcntl(to_child_w, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        pid = _fork(partial(_serve, to_child_r, to_parent_w, self.list),
                    close=[to_child_w, to_parent_r])
        os.close(to_child_r)
        os.close(to_parent_w)
        os.set_blocking(to_parent_r, False)
        self.pid, self._w, self._r = pid, to_child_w, to_parent_r

    def add(self, name: str, slot: int, path: str, data: bytes) -> None:
        self._batch.append((self.analyzers[name], slot, path, data))
        self._bytes += len(data)
        if self._bytes >= BATCH_BYTES or len(self._batch) >= BATCH_ITEMS:
            self._flush()

    def _acks(self) -> None:
        try:
            got = os.read(self._r, 64)
        except BlockingIOError:
            return
        if not got:
            raise EOFError
        self._in_flight -= len(got)

    def _flush(self) -> None:
        batch, self._batch, self._bytes = self._batch, [], 0
        if not batch:
            return
        if not self.failed and self._here_bytes >= START_AFTER:
            try:
                if not self.pid:
                    self._start()
                self._acks()
                if self._in_flight < IN_FLIGHT:
                    self._send(batch)
                    return
            except (OSError, EOFError) as exc:  # the worker died (EPIPE, EOF)
                self.failed = f"worker process stopped: {exc}"
        self._here(batch)

    def _send(self, batch: list[tuple[int, int, str, bytes]]) -> None:
        parts: list[Any] = [_LEN.pack(len(batch))]
        for index, slot, path, data in batch:
            raw = path.encode("utf-8", "surrogateescape")
            parts += (_ITEM.pack(index, slot, len(raw), len(data)), raw, data)
        _write_all(self._w, parts)
        self._in_flight += 1

    def _here(self, batch: list[tuple[int, int, str, bytes]]) -> None:
        for index, slot, path, data in batch:
            self._here_bytes += len(data)
            analyzer = self.list[index]
            try:
                value = analyzer.analyze(path, data)
            except Exception as exc:  # an analyzer must never abort the pass
                self.skipped.append((analyzer.name, f"{path}: {type(exc).__name__}: {exc}"))
                continue
            if value is not None:
                self.results.setdefault(analyzer.name, {})[(slot, path)] = value

    def finish(self) -> tuple[Results, list[tuple[str, str]]]:
        """Every result, and (analyzer, why) for what could not be analysed."""
        self._flush()
        results, skipped = self.results, self.skipped
        if not self.pid:
            return results, skipped
        try:
            if self.failed:
                raise EOFError(self.failed)
            _write_all(self._w, [_LEN.pack(0)])
            os.set_blocking(self._r, True)
            while True:  # the remaining acknowledgements, then the results
                mark = _read_exact(self._r, 1)
                if mark is None:
                    raise EOFError("worker process stopped")
                if mark == b"\x02":
                    break
            theirs, their_skips = _recv_obj(self._r)
        except (OSError, EOFError, pickle.UnpicklingError, ValueError) as exc:
            self.failed = str(exc) or "worker process stopped"
            skipped = [*skipped, *((name, f"not fully analysed: {self.failed}")
                                   for name in self.analyzers)]
            return results, skipped
        finally:
            self.close()
        for name, found in theirs.items():
            results.setdefault(name, {}).update(found)
        return results, [*skipped, *their_skips]

    def close(self) -> None:
        for fd in (self._w, self._r):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._w = self._r = -1
        if self.pid:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self.pid = 0
