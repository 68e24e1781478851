"""Benchmark: `dockwarden watch` beside N running containers: its CPU use per minute and
its alert latency (event time to alert time, median and p99) while containers start and
stop.

Run as root from the repository root:

    python bench/watch.py [--containers 200] [--seconds 60] [--interval 2s] [--md FILE]

A throw-away second dockerd (tests/harness ExtraDaemon: own data-root, bridge,
containerd namespace, unix socket only) is started so the main Engine is untouched, the
busybox test image is imported into it and N labelled containers running `sleep 3600`
are started with `network_mode=none`, as bench/engine.py does. Then one
`dockwarden watch --format json` child follows that daemon for two phases:

* idle: `--seconds` with the N containers running and nothing happening; the watch
  polls their stats every `--interval` (its only work);
* churn: `--seconds` in which, in a loop, a container with the host's / mounted
  (`-v /:/host:ro`, DW901) is created, started, exec'd into as root (DW902) and removed.

CPU is the child's user + system time (all its threads) from /proc/PID/stat around each
phase, given per minute of wall time; RSS is VmRSS at the end. Latency is the alert's
own `alert_time` minus its `event_time` (the Engine's time of the event), for every
DW901/DW902 alert of the churn phase; also the time from the SDK call that caused the
event to the line being read by this script. Public tools only: the Docker SDK and
the standard library.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from harness.daemons import ExtraDaemon  # noqa: E402
from harness.images import busybox_image, labels  # noqa: E402

BENCH_LABEL = "dockwarden.bench"
START_WORKERS = 4
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _t(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def start_containers(api: Any, image: str, n: int) -> list[str]:
    host_config = api.create_host_config(network_mode="none")

    def one(i: int) -> str:
        cid = api.create_container(image, command=["sleep", "3600"], name=f"dwbench-{i:04d}",
                                   host_config=host_config,
                                   labels=labels(**{BENCH_LABEL: "1"}))["Id"]
        api.start(cid)
        return str(cid)

    with ThreadPoolExecutor(max_workers=START_WORKERS) as pool:
        return list(pool.map(one, range(n)))


def churn(api: Any, image: str, seconds: float, caused: dict[str, float]) -> int:
    """Start/exec/remove dangerous containers for `seconds`; returns how many."""
    host_config = api.create_host_config(network_mode="none", binds=["/:/host:ro"])
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        name = f"dwbench-churn-{i:04d}"
        cid = api.create_container(image, command=["sleep", "3600"], name=name,
                                   host_config=host_config,
                                   labels=labels(**{BENCH_LABEL: "1"}))["Id"]
        caused[f"DW901 {name}"] = time.time()
        api.start(cid)
        time.sleep(0.5)
        caused[f"DW902 {name}"] = time.time()
        exec_id = api.exec_create(cid, ["true"], user="0")["Id"]
        api.exec_start(exec_id)
        time.sleep(0.5)
        api.remove_container(cid, force=True)
        i += 1
    return i


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--containers", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--interval", default="2s", help="watch --interval")
    ap.add_argument("--md", help="append the result as a Markdown table to this file")
    args = ap.parse_args()

    with ExtraDaemon() as d:
        api = d.client(timeout=120)
        image = busybox_image(api)
        t0 = time.monotonic()
        ids = start_containers(api, image, args.containers)
        print(f"{len(ids)} containers running ({time.monotonic() - t0:.1f} s to start)",
              flush=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "dockwarden", "watch", "-H", f"unix://{d.socket}",
             "--format", "json", "--interval", args.interval],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        lines: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        err: list[str] = []

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.put((time.time(), json.loads(line)))

        def read_err() -> None:
            assert proc.stderr is not None
            err.extend(proc.stderr)

        threading.Thread(target=read, daemon=True).start()
        threading.Thread(target=read_err, daemon=True).start()
        try:
            while not any("watching" in e for e in err):
                if proc.poll() is not None:
                    raise RuntimeError("".join(err))
                time.sleep(0.1)
            time.sleep(5)  # the first inspect of every container
            c0, w0 = cpu_seconds(proc.pid), time.monotonic()
            time.sleep(args.seconds)
            c1, w1 = cpu_seconds(proc.pid), time.monotonic()
            caused: dict[str, float] = {}
            rounds = churn(api, image, args.seconds, caused)
            c2, w2 = cpu_seconds(proc.pid), time.monotonic()
            time.sleep(3)  # the last alerts
            rss = rss_mib(proc.pid)
        finally:
            proc.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
            if proc.poll() is None:
                proc.kill()
            for cid in api.containers(all=True, filters={"label": f"{BENCH_LABEL}=1"}):
                with contextlib.suppress(Exception):
                    api.remove_container(cid["Id"], force=True)
        alerts = []
        while not lines.empty():
            alerts.append(lines.get())

    lat, seen = [], []
    for got, alert in alerts:
        key = f"{alert['id']} {alert['container']['name']}"
        if key in caused:
            lat.append(_t(alert["alert_time"]) - _t(alert["event_time"]))
            seen.append(got - caused[key])
    idle = (c1 - c0) / (w1 - w0) * 60
    busy = (c2 - c1) / (w2 - w1) * 60
    rows = [
        ("containers running", f"{args.containers}"),
        ("stats interval", args.interval),
        ("CPU, idle (s per minute)", f"{idle:.2f}"),
        ("CPU, churn (s per minute)", f"{busy:.2f}"),
        ("RSS at the end (MiB)", f"{rss:.0f}"),
        ("churn rounds (start + exec + rm)", f"{rounds}"),
        ("alerts expected / seen", f"{len(caused)} / {len(lat)}"),
    ]
    samples = next((int(m.group(1)) for e in err
                    if (m := re.search(r"(\d+) stats samples", e))), 0)
    ran = next((int(m.group(1)) for e in err if (m := re.search(r"ended after (\d+) s", e))),
               0)
    if samples and ran:
        per = samples / (ran / 60) / args.containers
        rows.append(("stats samples per container per minute", f"{per:.1f}"))
    if lat:
        rows += [
            ("latency event -> alert, median (ms)", f"{statistics.median(lat) * 1000:.0f}"),
            ("latency event -> alert, p99 (ms)", f"{percentile(lat, 99) * 1000:.0f}"),
            ("SDK call -> line read, median (ms)", f"{statistics.median(seen) * 1000:.0f}"),
            ("SDK call -> line read, p99 (ms)", f"{percentile(seen, 99) * 1000:.0f}"),
        ]
    table = "| measure | value |\n| --- | --- |\n" + "".join(
        f"| {k} | {v} |\n" for k, v in rows)
    print(table)
    print("".join(err[-3:]))
    if args.md:
        with open(args.md, "a") as fh:
            fh.write(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
