"""Benchmark: `dockwarden exposure` probing 1,024 ports of 127.0.0.1, a handful of them
listening, against a plain asyncio connect-only sweep of the same ports (the floor;
issue 14).

Run from the repository root (as root, or anyone: the ports are unprivileged):

    python bench/exposure.py [--repeat 5] [--base 20000] [--concurrency 256]

The 1,024 ports are BASE..BASE+1023 of 127.0.0.1 (refused if anything else listens
there). A helper child process listens on five of them for the whole run: an HTTP server
answering like a Docker Engine API without TLS (/_ping with Api-Version, /version), one
answering like an open registry (/v2/ 200 with Docker-Distribution-Api-Version, a
catalog of one repository and its tags), one plain HTTP server answering 404 to
everything, one listener that closes each connection at once, and one that greets with an
SSH-like banner and closes after reading a line. (A listener that accepts and never
answers is left out: there identification waits out --timeout, twice, which measures
the timeout and not the probe.) Both sides use the same concurrency and a 1 s timeout.

Commands, measured in the same run, alternating and rotating which goes first, each run
once untimed first (warm-up; the dockwarden report is checked for its DW701 and DW703
findings):

* `dockwarden exposure 127.0.0.1 --no-default-ports --ports BASE-BASE+1023 --timeout 1
  --format json --fail-on none -o FILE` (a whole process);
* `python -c SWEEP`: asyncio.open_connection to each port under the same semaphore bound
  and timeout, closed at once (a whole process: the floor);
* the same two in-process, timing only the probing (`collect.exposure.collect` against
  the sweep function), which leaves out dockwarden's start-up and report.

Wall time is the median of the runs. Prints a markdown table; target: dockwarden within
1.5x the floor. Only the Python standard library serves and sweeps (no other tool).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _child import bytecode_cache_env, dockwarden_argv

REPO = Path(__file__).resolve().parents[1]
TARGET = 1.5
PORTS = 1024
TIMEOUT = 1.0
PYCACHE, ENV = bytecode_cache_env("dw-exposure-bench-pyc-")
ENV["PYTHONPATH"] = str(REPO / "src")

SWEEP = r"""
import asyncio, sys, time

async def one(sem, port, timeout):
    async with sem:
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except (OSError, TimeoutError):
            return False
        writer.close()
        return True

async def sweep(ports, concurrency, timeout):
    sem = asyncio.Semaphore(concurrency)
    return sum(await asyncio.gather(*(one(sem, p, timeout) for p in ports)))

def main():
    base, concurrency, timeout = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    t0 = time.perf_counter()
    found = asyncio.run(sweep(range(base, base + 1024), concurrency, timeout))
    print(f"{time.perf_counter() - t0:.6f} {found}")

main()
"""

SERVERS = r"""
import http.server, json, socket, sys, threading

base = int(sys.argv[1])

class Engine(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        if self.path == "/_ping":
            body, ctype = b"OK", "text/plain"
        elif self.path == "/version":
            body = json.dumps({"Version": "20.10.24", "ApiVersion": "1.41", "Os": "linux",
                               "Arch": "amd64", "KernelVersion": "6.1"}).encode()
            ctype = "application/json"
        else:
            self.send_error(404); return
        self.send_response(200)
        self.send_header("Api-Version", "1.41")
        self.send_header("Server", "Docker/20.10.24 (linux)")
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

class Registry(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        answers = {"/v2/": {}, "/v2/_catalog?n=100": {"repositories": ["bench/app"]},
                   "/v2/bench/app/tags/list": {"name": "bench/app", "tags": ["1"]}}
        if self.path not in answers:
            self.send_error(404); return
        body = json.dumps(answers[self.path]).encode()
        self.send_response(200)
        self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

class NotFound(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        self.send_error(404)

def serve(port, handler):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

def closer(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port)); s.listen(64)
    def loop():
        while True:
            c, _ = s.accept(); c.close()
    threading.Thread(target=loop, daemon=True).start()

def banner(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port)); s.listen(64)
    def talk(c):
        with c:
            c.sendall(b"SSH-2.0-bench\r\n")
            c.settimeout(5)
            try:
                c.recv(1024)
            except OSError:
                pass
    def loop():
        while True:
            c, _ = s.accept()
            threading.Thread(target=talk, args=(c,), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()

serve(base + 75, Engine)
serve(base + 500, Registry)
serve(base + 880, NotFound)
closer(base + 22)
banner(base + 1000)
print("ready", flush=True)
sys.stdin.read()  # until the bench closes our stdin
"""


def free_range(base: int) -> bool:
    for port in range(base, base + PORTS):
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return False
    return True


def timed(argv: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=ENV, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"{argv[:4]} exited {proc.returncode}: {proc.stderr[-1500:]}")
    return wall, proc.stdout


INPROCESS = r"""
import sys, time
from dockwarden.collect.exposure import collect
base, concurrency, timeout = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
t0 = time.perf_counter()
snap = collect(["127.0.0.1"], tuple(range(base, base + 1024)), timeout=timeout,
               concurrency=concurrency)
print(f"{time.perf_counter() - t0:.6f} {len(snap.endpoints)}")
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--base", type=int, default=20000)
    ap.add_argument("--concurrency", type=int, default=256)
    args = ap.parse_args()
    base, last = args.base, args.base + PORTS - 1
    if not 1024 < base <= 65535 - PORTS or not free_range(base):
        sys.exit(f"ports {base}-{last} of 127.0.0.1 are not all free: pick another --base")
    servers = subprocess.Popen([sys.executable, "-c", SERVERS, str(base)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert servers.stdout is not None and servers.stdout.readline().strip() == "ready"
        return measure(args, base, last)
    finally:
        assert servers.stdin is not None
        servers.stdin.close()
        servers.wait(10)
        shutil.rmtree(PYCACHE, ignore_errors=True)


def measure(args: argparse.Namespace, base: int, last: int) -> int:
    knobs = [str(base), str(args.concurrency), str(TIMEOUT)]
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "report.json")
        commands = {
            "dockwarden": [*dockwarden_argv(), "exposure", "127.0.0.1", "--no-default-ports",
                           "--ports", f"{base}-{last}", "--timeout", str(TIMEOUT),
                           "--concurrency", str(args.concurrency), "--format", "json",
                           "--fail-on", "none", "--no-config", "-o", report],
            "sweep": [sys.executable, "-c", SWEEP, *knobs],
            "dockwarden probes": [sys.executable, "-c", INPROCESS, *knobs],
            "sweep probes": [sys.executable, "-c", SWEEP, *knobs],
        }
        print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, ports {base}-{last} "
              f"of 127.0.0.1 (5 listening), concurrency {args.concurrency}, timeout "
              f"{TIMEOUT:g} s, {os.cpu_count()} CPUs, Python {platform.python_version()}",
              file=sys.stderr)
        for name, argv in commands.items():  # warm-up
            _, out = timed(argv)
            if name == "dockwarden":
                with open(report) as fh:
                    checks = sorted(f["check"] for f in json.load(fh)["findings"])
                assert checks == ["DW701", "DW703"], checks
            elif name == "sweep":
                assert out.split()[1] == "5", out
        walls: dict[str, list[float]] = {name: [] for name in commands}
        names = list(commands)
        for i in range(args.repeat):
            for name in names[i % len(names):] + names[:i % len(names)]:
                wall, out = timed(commands[name])
                # in-process figures: the time the child measured around the probing
                walls[name].append(float(out.split()[0]) if name.endswith("probes") else wall)
    med = {name: statistics.median(v) for name, v in walls.items()}
    whole = med["dockwarden"] / med["sweep"]
    probes = med["dockwarden probes"] / med["sweep probes"]
    print(f"| measurement (median of {args.repeat}) | dockwarden (s) | floor: asyncio "
          "connect sweep (s) | ratio | target | met |")
    print("|---|---:|---:|---:|---|---|")
    print(f"| whole process, {PORTS} ports, 5 listening | {med['dockwarden']:.3f} | "
          f"{med['sweep']:.3f} | {whole:.2f}x | <= {TARGET}x | "
          f"{'yes' if whole <= TARGET else 'NO'} |")
    print(f"| probing only (in-process) | {med['dockwarden probes']:.3f} | "
          f"{med['sweep probes']:.3f} | {probes:.2f}x | <= {TARGET}x | "
          f"{'yes' if probes <= TARGET else 'NO'} |")
    print(f"\nratio (whole process): {whole:.2f}x; ratio (probing only): {probes:.2f}x")
    print("all runs (s): " + ", ".join(f"{n} {[round(w, 3) for w in v]}"
                                       for n, v in walls.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
