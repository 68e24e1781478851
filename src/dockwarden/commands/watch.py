"""`dockwarden watch`: follow the Engine's events and its containers' resource use, and
print alerts DW901-DW906 as they happen (text or JSON lines), optionally posting each to
a webhook.

Threads: one reads the event stream (and reconnects with backoff, asking for the events
it missed with `since=`); a small pool makes the other requests (inspects, stats, sizes;
`--workers` at a time); the main thread alone owns the state, fed through one queue, and
writes the alerts. Memory stays bounded over hours: a container's state is dropped on
`destroy`, at most `--max-containers` are tracked, the queue, the exec ids seen and the
cooldown table have caps.

Ctrl-C, SIGTERM or the end of `--for` end the watch with exit 0, or 3 when the Engine
was unreachable at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import queue
import re
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from dockwarden.commands import options as opts
from dockwarden.errors import UsageError
from dockwarden.model.watch import ConfigObs, ExecObs, GrowthObs, MemoryObs, PidsObs, RestartObs
from dockwarden.sanitize import clean, excerpt, tree

MiB = 1 << 20
QUEUE_CAP = 20_000  # messages waiting for the main thread
EXEC_MEMORY = 4096  # exec ids remembered (an exec is alerted once)
COOLDOWN_CAP = 50_000
NO_PIDS_LIMIT = 1 << 22  # a pids "limit" at or above this is the kernel's maximum
EVENT_WORKERS = 4  # concurrent inspects of containers and execs named by events


def _duration(text: str) -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", text.lower())
    if not m:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 30s, 10m, 2h)")
    value = float(m.group(1)) * {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600}[m.group(2)]
    if value <= 0:
        raise argparse.ArgumentTypeError("a duration must be more than 0")
    return value


def _webhook(text: str) -> str:
    from dockwarden.collect.watch import check_webhook

    try:
        return check_webhook(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def options(p: argparse.ArgumentParser) -> None:
    opts.engine_options(p, containers=False)
    g = p.add_argument_group("watch")
    g.add_argument("--format", choices=("text", "json"), default="text",
                   help="one line per alert: text, or a JSON object per line")
    g.add_argument("--for", dest="duration", type=_duration, metavar="DURATION",
                   help="stop after this long, e.g. 30s, 10m, 2h (default: until Ctrl-C)")
    g.add_argument("--webhook", type=_webhook, metavar="URL",
                   help="also POST each alert as JSON to this http(s) URL (5 s limit per "
                   "post; failures are counted and reported, never wait for)")
    g.add_argument("--interval", type=_duration, default=2.0, metavar="DURATION",
                   help="how often the stats of running containers are read (default 2s)")
    g.add_argument("--size-interval", type=_duration, default=60.0, metavar="DURATION",
                   help="how often writable-layer and log sizes are sampled (default 60s)")
    g.add_argument("--growth", type=opts.positive_int, default=100, metavar="MIB",
                   help="DW905: writable layer or log growth that alerts, MiB per minute "
                   "(default 100)")
    g.add_argument("--restarts", type=opts.positive_int, default=3, metavar="N",
                   help="DW906: alert when a container dies more than N times within "
                   "--restart-window (default 3)")
    g.add_argument("--restart-window", type=_duration, default=300.0, metavar="DURATION",
                   help="DW906: the window of --restarts (default 5m)")
    g.add_argument("--cooldown", type=_duration, default=300.0, metavar="DURATION",
                   help="the same alert for the same container is not repeated within this "
                   "time (default 5m)")
    g.add_argument("--workers", type=opts.positive_int, default=16,
                   help="concurrent stats and size requests (default 16; the Engine "
                   "answers each at its next 1 s sampling tick, so they mostly wait)")
    g.add_argument("--max-containers", type=opts.positive_int, default=2000, metavar="N",
                   help="track at most this many containers (default 2000)")


# -- state ------------------------------------------------------------------------------
@dataclass(slots=True)
class Box:
    """What the watch remembers of one container (dropped on destroy)."""

    id: str
    name: str
    running: bool = True
    user: str | None = None  # Config.User, once inspected
    log_path: str = ""
    memory_limit: int = 0  # HostConfig.Memory, once inspected
    pids: int | None = None
    pids_at: float = 0.0
    size_rw: int | None = None
    size_at: float = 0.0
    log_size: int | None = None
    log_at: float = 0.0
    deaths: deque[float] = field(default_factory=lambda: deque(maxlen=64))
    busy: set[str] = field(default_factory=set)  # kinds of request in flight


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z")


class Watch:
    def __init__(self, ns: argparse.Namespace, conn: Any, out: TextIO) -> None:
        from dockwarden.checks.registry import REGISTRY, load
        from dockwarden.checks.registry import Scope as _Scope

        load(_Scope.WATCH)
        self.checks = {cid: chk for cid, chk in REGISTRY.items() if cid.startswith("DW90")}
        self.ns, self.conn, self.out = ns, conn, out
        self.q: queue.Queue[tuple[Any, ...]] = queue.Queue(QUEUE_CAP)
        self.boxes: dict[str, Box] = {}
        self.cooldown: dict[tuple[str, str, str], float] = {}
        self.execs: OrderedDict[str, None] = OrderedDict()
        # inspects for events on their own small pool, so that they never wait behind a
        # round of stats (the Engine answers a stats request at its next 1 s tick)
        self.pool = ThreadPoolExecutor(EVENT_WORKERS, thread_name_prefix="dockwarden-event")
        self.poller = ThreadPoolExecutor(ns.workers, thread_name_prefix="dockwarden-poll")
        self.stop = threading.Event()
        self.stream: Any = None
        self.lost: str | None = None
        self.local = conn.socket_path is not None
        self.host_memory = 0
        self.webhook: Any = None
        self.counts = {"events": 0, "alerts": 0, "suppressed": 0, "dropped": 0,
                       "untracked": 0, "unreadable": 0, "errors": 0, "samples": 0}
        self._said_cap = False
        # set once the first event stream answered or failed: "watching" is said after
        # it, so that an event made once the line is out is seen (an ssh:// stream takes
        # an ssh handshake to open)
        self.first_stream = threading.Event()

    # -- messages from other threads ---------------------------------------------------
    def put(self, *msg: Any) -> None:
        try:
            self.q.put_nowait(msg)
        except queue.Full:
            self.counts["dropped"] += 1

    def status(self, text: str) -> None:
        print(f"dockwarden: watch: {clean(text)}", file=sys.stderr, flush=True)

    # -- the event thread --------------------------------------------------------------
    def events(self, since_nano: int) -> None:
        from dockwarden.collect.unixhttp import EngineGone
        from dockwarden.collect.watch import EventStream, parse_event, since_arg, split_lines

        # last_nano: the newest event seen, what a reconnection asks from; the events of
        # a reconnected stream up to the newest seen before the loss (replay, last_keys)
        # are the overlap of `since=` and are skipped
        last_nano, last_keys = since_nano, set[tuple[int, str, str]]()
        replay = -1
        backoff, lost, first = 0.5, False, True
        while not self.stop.is_set():
            # the first stream starts now; a later one asks for what it missed
            stream = EventStream(self.conn, None if first else since_arg(last_nano),
                                 self.ns.timeout)
            if not first:
                replay = last_nano
            first = False
            self.stream = stream
            if self.stop.is_set():
                return
            try:
                for line in split_lines(self._opened(stream)):
                    if line is None:
                        self.put("unreadable")
                        continue
                    event = parse_event(line)
                    if event is None:
                        continue
                    if event.time_nano < replay or (
                            event.time_nano == replay and event.key in last_keys):
                        continue  # seen before the reconnection
                    if event.time_nano > last_nano:
                        last_nano, last_keys = event.time_nano, set()
                    if event.time_nano == last_nano:
                        last_keys.add(event.key)
                    self.put("event", event)
                reason = "the event stream ended"
            except EngineGone as exc:
                reason = str(exc)
            except Exception as exc:  # never let the thread die silently
                reason = f"{type(exc).__name__}: {exc}"
            self.first_stream.set()
            if self.stop.is_set():
                return
            if stream.opened or not lost:  # said once per loss
                self.put("lost", reason)
                lost = True
            if stream.opened:
                backoff = 0.5
            self.stop.wait(backoff)
            backoff = min(backoff * 2, 10.0)

    def _opened(self, stream: Any) -> Iterator[bytes]:
        """The stream's chunks; "back" once it answers (the main thread says so only
        after a loss)."""
        said = False
        for chunk in stream.chunks():
            if stream.opened and not said:
                said = True
                self.first_stream.set()
                self.put("back")
            yield chunk

    # -- requests on the pool ----------------------------------------------------------
    def submit(self, box: Box, kind: str, fn: Any, *args: Any) -> None:
        if kind in box.busy:
            return
        box.busy.add(kind)

        def job() -> None:
            try:
                self.put("done", box.id, kind, fn(*args))
            except Exception as exc:  # WatchError, or anything unexpected
                self.put("failed", box.id, kind, excerpt(exc, 200))

        try:
            (self.poller if kind in ("stats", "size") else self.pool).submit(job)
        except RuntimeError:  # shutting down
            box.busy.discard(kind)

    def _inspect_job(self, cid: str, judge: str | None, event_time: float) -> Any:
        from dockwarden.collect.watch import inspect

        return inspect(self.conn, cid), judge, event_time

    def _exec_job(self, cid: str, exec_id: str, event_time: float, name: str) -> Any:
        from dockwarden.collect.watch import inspect, inspect_exec

        data = inspect_exec(self.conn, exec_id)
        user = None
        try:
            cfg = inspect(self.conn, cid).get("Config") or {}
            user = cfg.get("User") or ""
        except Exception:
            user = None
        return data, user, event_time, name

    def _stats_job(self, cid: str) -> Any:
        from dockwarden.collect.watch import stats

        return stats(self.conn, cid), time.time()

    def _size_job(self, cid: str) -> Any:
        from dockwarden.collect.watch import inspect

        data = inspect(self.conn, cid, size=True)
        size = data.get("SizeRw")
        return (size if isinstance(size, int) and not isinstance(size, bool) else None,
                time.time())

    def _list_job(self) -> Any:
        from dockwarden.collect.watch import list_running

        return list_running(self.conn)

    # -- state -------------------------------------------------------------------------
    def track(self, cid: str, name: str) -> Box | None:
        box = self.boxes.get(cid)
        if box is not None:
            if name:
                box.name = name
            return box
        if len(self.boxes) >= self.ns.max_containers:
            self.counts["untracked"] += 1
            if not self._said_cap:
                self._said_cap = True
                self.status(f"tracking at most {self.ns.max_containers} containers "
                            "(--max-containers): others get event alerts only")
            return None
        box = Box(cid, name)
        self.boxes[cid] = box
        return box

    def drop(self, cid: str) -> None:
        self.boxes.pop(cid, None)
        for key in [k for k in self.cooldown if k[1] == cid]:
            del self.cooldown[key]

    # -- alerts ------------------------------------------------------------------------
    def judge(self, check_id: str, obs: Any, cid: str, name: str, event_time: float,
              sub: str = "") -> None:
        from dockwarden.checks.registry import run
        from dockwarden.model.common import Source, TargetKind
        from dockwarden.model.finding import Target

        chk = self.checks.get(check_id)
        if chk is None:
            return
        results = run([chk], (obs,), Target(TargetKind.CONTAINER, name, cid), Source.WATCH)
        for err in results.errors:
            self.counts["errors"] += 1
            self.status(err.message)
        for finding in results.findings:
            now_mono = time.monotonic()
            key = (check_id, cid, sub)
            last = self.cooldown.get(key)
            if last is not None and now_mono - last < self.ns.cooldown:
                self.counts["suppressed"] += 1
                continue
            self.cooldown[key] = now_mono
            if len(self.cooldown) > COOLDOWN_CAP:
                self._prune(now_mono)
            alert = {
                "id": finding.check, "severity": finding.severity.value,
                "title": finding.title, "event_time": _iso(event_time),
                "alert_time": _iso(time.time()),
                "container": {"name": clean(name), "id": cid},
                "evidence": tree(finding.evidence),
                "fix": finding.remediation, "source": "watch",
            }
            if finding.message:
                alert["message"] = clean(finding.message)
            self.emit(alert)

    def _prune(self, now_mono: float) -> None:
        for key in [k for k, t in self.cooldown.items() if now_mono - t >= self.ns.cooldown]:
            del self.cooldown[key]
        while len(self.cooldown) > COOLDOWN_CAP:  # all recent: forget the oldest
            del self.cooldown[next(iter(self.cooldown))]

    def emit(self, alert: dict[str, Any]) -> None:
        self.counts["alerts"] += 1
        if self.ns.format == "json":
            line = json.dumps(alert, ensure_ascii=False, sort_keys=False)
        else:
            c = alert["container"]
            what = alert.get("message")
            evidence = json.dumps(alert["evidence"], ensure_ascii=False, sort_keys=True)
            line = (f"{alert['alert_time']} {alert['id']} {alert['severity']:<8} "
                    f"{c['name']} ({c['id'][:12]}): {alert['title']}"
                    + (f" [{what}]" if what else "")
                    + f"; event {alert['event_time']}; evidence {evidence}; "
                    f"fix: {alert['fix']}")
        self.out.write(line + "\n")
        self.out.flush()
        if self.webhook is not None:
            self.webhook.post(alert)

    # -- handling ----------------------------------------------------------------------
    def handle(self, msg: tuple[Any, ...]) -> None:
        kind = msg[0]
        if kind == "event":
            self.counts["events"] += 1
            self.on_event(msg[1])
        elif kind in ("done", "failed"):
            box = self.boxes.get(msg[1]) if msg[1] else self._lister
            if box is not None:
                box.busy.discard(msg[2])
            if kind == "done":
                self.on_done(msg[1], msg[2], msg[3])
        elif kind == "lost":
            if self.lost is None:
                self.status(f"lost the Engine ({excerpt(msg[1], 160)}); reconnecting "
                            "with backoff")
            self.lost = msg[1]
        elif kind == "back":
            if self.lost is not None:
                self.status("reconnected to the Engine; fetching the events missed")
                self.lost = None
                self.submit(self._lister, "list", self._list_job)
        elif kind == "unreadable":
            self.counts["unreadable"] += 1

    _lister = Box("", "")  # the pseudo-container of `list` requests

    def on_event(self, ev: Any) -> None:

        action = ev.action
        if action == "destroy":
            self.drop(ev.id)
            return
        if action in ("start", "update", "restart"):
            box = self.track(ev.id, ev.name)
            if box is not None:
                box.running = True
                box.pids = None
                self.submit(box, "inspect", self._inspect_job, ev.id,
                            "update" if action == "update" else "start", ev.time)
            else:  # over the cap: still judged, without a box of its own
                self.submit(Box(ev.id, ev.name), "inspect", self._inspect_job, ev.id,
                            "update" if action == "update" else "start", ev.time)
        elif action in ("exec_create", "exec_start") and ev.exec_id:
            if ev.exec_id in self.execs:
                return
            self.execs[ev.exec_id] = None
            if len(self.execs) > EXEC_MEMORY:
                self.execs.popitem(last=False)
            box = self.track(ev.id, ev.name) or Box(ev.id, ev.name)
            self.submit(box, f"exec:{ev.exec_id}", self._exec_job, ev.id, ev.exec_id,
                        ev.time, box.name)
        elif action == "oom":
            box = self.boxes.get(ev.id)
            self.judge("DW904", MemoryObs(oom=True, limit=box.memory_limit if box else 0),
                       ev.id, ev.name, ev.time, "oom")
        elif action == "die":
            box = self.boxes.get(ev.id) or self.track(ev.id, ev.name)
            if box is None:
                return
            box.running = False
            box.deaths.append(ev.time)
            window = self.ns.restart_window
            deaths = sum(1 for t in box.deaths if ev.time - t <= window)
            self.judge("DW906", RestartObs(deaths, window, self.ns.restarts, ev.exit_code),
                       ev.id, box.name, ev.time)

    def on_done(self, cid: str, kind: str, result: Any) -> None:

        if kind == "list":
            for rid, name in result:
                box = self.track(rid, name)
                if box is not None and box.user is None:
                    self.submit(box, "inspect", self._inspect_job, rid, None, time.time())
            return
        box = self.boxes.get(cid)
        name = box.name if box is not None else cid[:12]
        if kind == "inspect":
            self.on_inspect(box, cid, *result)
        elif kind.startswith("exec:"):
            data, user, event_time, name = result
            pc = data.get("ProcessConfig") or {}
            command = (str(pc.get("entrypoint") or ""),
                       *[str(a) for a in (pc.get("arguments") or [])][:50])
            if box is not None and user is not None:
                box.user = user
            self.judge("DW902", ExecObs(
                exec_id=str(data.get("ID") or kind[5:]), user=str(pc.get("user") or ""),
                container_user=user or "", privileged=bool(pc.get("privileged")),
                command=tuple(excerpt(c, 200) for c in command)),
                cid, name, event_time, kind[5:])
        elif kind == "stats" and box is not None:
            self.on_stats(box, *result)
        elif kind == "size" and box is not None:
            self.on_size(box, *result)

    def on_inspect(self, box: Box | None, cid: str, data: dict[str, Any], judge: str | None,
                   event_time: float) -> None:
        from dockwarden.checks.judge import judge_containers
        from dockwarden.checks.registry import Selection
        from dockwarden.collect.inspect import spec_from_inspect
        from dockwarden.model.container import ContainerContext

        spec = spec_from_inspect(data)
        name = excerpt(spec.name, 128)
        state = data.get("State") or {}
        if box is not None:
            box.name = name
            box.user = spec.user
            box.memory_limit = spec.memory
            log_path = data.get("LogPath")
            box.log_path = log_path if isinstance(log_path, str) and self.local else ""
            box.running = bool(state.get("Running"))
            if box.running and self.lost is None:
                self.submit(box, "stats", self._stats_job, cid)  # a first sample at once
        if judge is None:
            return
        results = judge_containers([spec], ContainerContext(), Selection(only=("DW2",)))
        self.judge("DW901", ConfigObs(judge, tuple(results.findings)), cid, name, event_time)

    def on_stats(self, box: Box, sample: Any, at: float) -> None:

        if sample is None:
            box.running = False
            return
        self.counts["samples"] += 1
        limit = sample.pids_limit if 0 < sample.pids_limit < NO_PIDS_LIMIT else 0
        previous, seconds = box.pids, at - box.pids_at
        box.pids, box.pids_at = sample.pids, at
        self.judge("DW903", PidsObs(sample.pids, limit, previous, seconds),
                   box.id, box.name, at)
        mem_limit = sample.memory_limit
        if self.host_memory and mem_limit >= self.host_memory:
            mem_limit = 0
        self.judge("DW904", MemoryObs(usage=sample.memory, limit=mem_limit),
                   box.id, box.name, at, "near")

    def on_size(self, box: Box, size: int | None, at: float) -> None:

        if size is None:
            return
        if box.size_rw is not None:
            self.judge("DW905", GrowthObs("writable layer", box.size_rw, size, at - box.size_at,
                                          self.ns.growth * MiB), box.id, box.name, at, "layer")
        box.size_rw, box.size_at = size, at

    def sample_logs(self) -> None:
        from dockwarden.collect.watch import file_size

        for box in list(self.boxes.values()):
            if not box.log_path:
                continue
            size, at = file_size(box.log_path), time.time()
            if size is None:
                continue
            if box.log_size is not None and size >= box.log_size:
                self.judge("DW905", GrowthObs("log file", box.log_size, size, at - box.log_at,
                                              self.ns.growth * MiB), box.id, box.name, at, "log")
            box.log_size, box.log_at = size, at

    # -- the loop ----------------------------------------------------------------------
    def _start(self, end: float | None) -> None:
        from dockwarden.collect.watch import WatchError, Webhook, host_memory, list_running

        if self.ns.webhook:
            self.webhook = Webhook(self.ns.webhook)
        thread = threading.Thread(target=self.events, args=(time.time_ns(),),
                                  name="dockwarden-events", daemon=True)
        thread.start()
        self.host_memory = host_memory(self.conn)
        try:
            for cid, name in list_running(self.conn):
                box = self.track(cid, name)
                if box is not None:
                    self.submit(box, "inspect", self._inspect_job, cid, None, time.time())
        except WatchError as exc:
            self.status(f"could not list the running containers: {exc}")
        self.first_stream.wait(self.ns.timeout)
        self.status(f"watching {clean(self.conn.url)} ({len(self.boxes)} running "
                    "containers)" + (f" for {self.ns.duration:g} s" if end else
                                     "; Ctrl-C ends"))

    def _loop(self, end: float | None) -> None:
        next_poll = time.monotonic() + self.ns.interval
        next_size = time.monotonic() + self.ns.size_interval
        while True:
            now = time.monotonic()
            if end is not None and now >= end:
                break
            wake = min(next_poll, next_size, end if end is not None else next_poll)
            try:
                msg = self.q.get(timeout=max(0.0, min(1.0, wake - now)))
            except queue.Empty:
                msg = None
            if msg is not None:
                self.handle(msg)
                for _ in range(1000):  # whatever else is waiting
                    try:
                        self.handle(self.q.get_nowait())
                    except queue.Empty:
                        break
            now = time.monotonic()
            if now >= next_poll:
                next_poll = now + self.ns.interval
                self._each_running("stats", self._stats_job)
            if now >= next_size:
                next_size = now + self.ns.size_interval
                self._each_running("size", self._size_job)
                self.sample_logs()

    def _each_running(self, kind: str, job: Callable[[str], Any]) -> None:
        """`job` for each running container, unless the Engine is lost."""
        if self.lost is None:
            for box in list(self.boxes.values()):
                if box.running:
                    self.submit(box, kind, job, box.id)

    def run(self) -> int:
        started = time.monotonic()
        end = started + self.ns.duration if self.ns.duration else None
        try:
            self._start(end)
            self._loop(end)
        except (KeyboardInterrupt, BrokenPipeError):
            pass
        finally:
            self.stop.set()
            if self.stream is not None:
                self.stream.close()
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.poller.shutdown(wait=False, cancel_futures=True)
        return self.finish(time.monotonic() - started)

    def finish(self, seconds: float) -> int:
        c = self.counts
        parts = [f"{c['alerts']} alerts", f"{c['events']} events",
                 f"{c['samples']} stats samples"]
        if c["suppressed"]:
            parts.append(f"{c['suppressed']} repeated alerts held back (--cooldown)")
        if c["dropped"]:
            parts.append(f"{c['dropped']} messages dropped (queue full)")
        if c["unreadable"]:
            parts.append(f"{c['unreadable']} event lines too long, skipped")
        if c["untracked"]:
            parts.append(f"{c['untracked']} containers over --max-containers")
        self.status(f"ended after {seconds:.0f} s: " + ", ".join(parts))
        if self.webhook is not None:
            self.webhook.close(2.0)
            w = self.webhook
            self.status(f"webhook: {w.sent} posted, {w.failed} failed, {w.dropped} dropped"
                        + (f" (last error: {w.last_error})" if w.last_error else ""))
        if self.lost is not None:
            self.status("the Engine was unreachable at the end")
            return 3
        return 0


def run(ns: argparse.Namespace) -> int:
    from dockwarden.collect.connection import connect

    conn = connect(opts.engine_from(ns), max_pool_size=max(10, ns.workers + EVENT_WORKERS + 2))
    try:
        return Watch(ns, conn, sys.stdout).run()
    except KeyboardInterrupt:
        return 0
    finally:
        with contextlib.suppress(Exception):
            conn.getter.close()  # over ssh://: ends the ssh processes of the requests
