"""Benchmark: `dockwarden containers` against one `docker inspect` over the same containers.

Run as root from the repository root:

    python bench/engine.py [--sizes 100,500] [--repeat 3] [--workers N] [--md FILE]
                           [--profile DIR] [--ignore-entries 10000]

(set PYTHONPATH=<dir>/src to benchmark another checkout than the installed one).

A throw-away second dockerd (tests/harness ExtraDaemon: own data-root, bridge,
containerd namespace, unix socket only) is started so the main Engine is untouched.
The busybox test image is imported into it and N labelled containers running
`sleep 3600` are started with `network_mode=none` (no veth/bridge setup, so starting
hundreds is fast; the audit itself does not depend on the network mode). For each N:

* baseline: `docker -H unix://<sock> inspect <id1> ... <idN>` (one CLI call, output to
  /dev/null);
* subject:  `python -m dockwarden containers -H unix://<sock> --format json
  --no-progress --fail-on none` (output to a temp file, checked afterwards).

* subject with accepted risks: the same with `--ignore FILE` of `--ignore-entries`
  entries (default 10,000; 0 leaves it out): check ids, target patterns and
  vulnerability ids that match nothing, so every finding is compared with the file.
  Matching is indexed by check id, so this should cost about as much as the plain run
  (it took 26 s instead of 0.65 s for 10,000 entries when every finding was compared
  with every entry).

* the whole-host audit: `dockwarden containers` with the images in use (the bench's one
  image), against the sum of its parts measured in the same run: the container audit
  (`--no-images`) plus `dockwarden image ID` of that image;
* the text report's rendering: in one child, the audit's Report is rendered as text (the
  default summary, and `--details`), timed around `report.text.render` alone.

After one untimed warm-up of each, both are run `--repeat` times, alternating (and
alternating which one goes first), and the medians are reported. Each command runs as
a direct child that is reaped with os.wait4(), which gives its wall time and its own
peak RSS (ru_maxrss). Growth is time(N_max)/time(N_min) for both commands.

`--profile DIR` adds, per N, one cProfile run and (if installed) one py-spy run
(`--idle --threads`, collapsed stacks) of dockwarden.

Everything stays on unix sockets. Containers are removed one at a time before the
daemon stops (concurrent `rm -f` deadlocked dockerd 20.10 in libnetwork); if the daemon
hangs anyway, it is killed and the containers' leftover processes are SIGKILLed by cgroup.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _child import run_child  # noqa: E402

from harness.daemons import ExtraDaemon  # noqa: E402
from harness.images import busybox_image, labels  # noqa: E402

DOCKER_CLI = "/usr/local/bin/docker"
BENCH_LABEL = "dockwarden.bench"
START_WORKERS = 4           # threads creating/starting containers (2 CPUs)
START_DEADLINE = 900.0      # seconds allowed to reach the largest N
RUN_TIMEOUT = 600.0         # seconds allowed for one measured command
REMOVE_TIMEOUT = 60.0       # seconds for one `rm -f` before the daemon counts as stuck


@dataclass
class Run:
    wall: float
    maxrss_kb: int
    rc: int


@dataclass
class SizeResult:
    n: int
    inspect: list[Run] = field(default_factory=list)
    dockwarden: list[Run] = field(default_factory=list)
    ignoring: list[Run] = field(default_factory=list)
    whole: list[Run] = field(default_factory=list)
    image: list[Run] = field(default_factory=list)
    render: tuple[float, int, float, int] = (0.0, 0, 0.0, 0)  # summary s, lines, details
    report_containers: int = 0
    report_errors: int = 0
    report_complete: bool = False

    @staticmethod
    def _median(runs: list[Run]) -> float:
        return statistics.median(r.wall for r in runs)

    @property
    def t_inspect(self) -> float:
        return self._median(self.inspect)

    @property
    def t_dw(self) -> float:
        return self._median(self.dockwarden)

    @property
    def t_ignoring(self) -> float | None:
        return self._median(self.ignoring) if self.ignoring else None

    @property
    def t_whole(self) -> float | None:
        return self._median(self.whole) if self.whole else None

    @property
    def t_image(self) -> float | None:
        return self._median(self.image) if self.image else None

    @property
    def rss_dw_mb(self) -> float:
        return max(r.maxrss_kb for r in self.dockwarden) / 1024

    @property
    def rss_inspect_mb(self) -> float:
        return max(r.maxrss_kb for r in self.inspect) / 1024


# ------------------------------------------------------------------------- measuring


def measure(argv: list[str], stdout_path: str, env: dict[str, str]) -> Run:
    """Run argv as a direct child (wall time and the child's own peak RSS, via bench/_child.py)."""
    r = run_child(argv, stdout_path, env, RUN_TIMEOUT)
    return Run(wall=r.wall, maxrss_kb=r.maxrss_kb, rc=0)


# ------------------------------------------------------------------------ containers


def grow_to(api: Any, image: str, ids: list[str], n: int, deadline: float) -> None:
    """Create and start containers until `ids` holds n running ones."""
    host_config = api.create_host_config(network_mode="none")

    def one(i: int) -> str:
        cid = api.create_container(
            image, command=["sleep", "3600"], name=f"dwbench-{i:04d}",
            host_config=host_config, labels=labels(**{BENCH_LABEL: "1"}),
        )["Id"]
        api.start(cid)
        return str(cid)

    todo = range(len(ids), n)
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=START_WORKERS) as pool:
        for cid in pool.map(one, todo):
            ids.append(cid)
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(ids)} of {n} containers started in time")
    running = api.containers(filters={"label": f"{BENCH_LABEL}=1", "status": "running"})
    if len(running) < n:
        raise RuntimeError(f"{len(running)} of {n} bench containers are running")
    print(f"  {n} containers running (+{len(todo)} started in "
          f"{time.monotonic() - t0:.1f}s)", flush=True)


def remove_all(url: str, ids: list[str]) -> list[str]:
    """Remove the containers one at a time; return the ids that could not be removed.

    Serial on purpose: with 16 concurrent `rm -f` dockerd 20.10.24 deadlocked in
    libnetwork (sandbox delete vs. datastore lock) and every later API call hung.
    At the first timeout the daemon is assumed stuck and the rest is left to
    `reap_orphans` after the daemon is killed.
    """
    from harness.engine import make_client

    api = make_client(url, timeout=REMOVE_TIMEOUT)
    try:
        for k, cid in enumerate(ids):
            try:
                api.remove_container(cid, force=True)
            except Exception as exc:
                if "No such container" in str(exc):
                    continue
                print(f"  remove {cid[:12]} failed ({exc}); giving up on the API",
                      file=sys.stderr)
                return ids[k:]
    finally:
        api.close()
    return []


def reap_orphans(ids: list[str]) -> int:
    """SIGKILL processes left in our containers' cgroups (the shim was killed with the
    daemon, so they were re-parented to init); rmdir their now empty cgroups."""
    wanted = set(ids)
    killed: set[str] = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cgroup") as fh:
                found = wanted.intersection(re.findall(r"[0-9a-f]{64}", fh.read()))
            if found:
                os.kill(int(entry.name), signal.SIGKILL)
                killed |= found
        except (OSError, ProcessLookupError):
            continue
    time.sleep(1)
    for cid in killed:
        for d in glob.glob(f"/sys/fs/cgroup/*/docker/{cid}") + glob.glob(
                f"/sys/fs/cgroup/docker/{cid}"):
            with contextlib.suppress(OSError):
                os.rmdir(d)
    return len(killed)


# ------------------------------------------------------------------------- benchmark


# Bytecode cache for the measured commands: this machine sets PYTHONDONTWRITEBYTECODE,
# which would make every run recompile dockwarden (an installed tool has its .pyc files).
PYCACHE = tempfile.mkdtemp(prefix="dw-bench-pyc-")


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH",
                        "PYTHONDONTWRITEBYTECODE")}
    env["PYTHONPYCACHEPREFIX"] = PYCACHE
    return env


def dockwarden_args(url: str, workers: int | None) -> list[str]:
    """`-m` target and arguments (after `python -m`)."""
    args = ["dockwarden", "containers", "-H", url, "--format", "json", "--no-progress",
            "--fail-on", "none", "--no-images"]
    if workers:
        args += ["--workers", str(workers)]
    return args


def profile(url: str, n: int, workers: int | None, outdir: str) -> None:
    """One cProfile run (main thread only: shows the phases) and, if py-spy is
    installed, one sampled run over all threads incl. idle (shows the waits)."""
    import pstats

    os.makedirs(outdir, exist_ok=True)
    env = clean_env()
    prof = os.path.join(outdir, f"dw-{n}.prof")
    run = measure([sys.executable, "-m", "cProfile", "-o", prof, "-m",
                   *dockwarden_args(url, workers)], os.devnull, env)
    text = os.path.join(outdir, f"dw-{n}.cprofile.txt")
    with open(text, "w") as fh:
        st = pstats.Stats(prof, stream=fh).strip_dirs()
        st.sort_stats("cumulative").print_stats(40)
        st.sort_stats("tottime").print_stats(25)
    print(f"  N={n} cProfile run {run.wall:.3f}s -> {prof}, {text}", flush=True)
    spy = shutil.which("py-spy")
    if spy:
        raw = os.path.join(outdir, f"dw-{n}.pyspy.txt")
        run = measure([spy, "record", "--idle", "--threads", "--rate", "200", "--format",
                       "raw", "-o", raw, "--", sys.executable, "-m",
                       *dockwarden_args(url, workers)], os.devnull, env)
        print(f"  N={n} py-spy run {run.wall:.3f}s -> {raw}", flush=True)


def write_ignore_file(path: str, entries: int) -> None:
    """`entries` accepted risks that match none of the bench's containers: a check id,
    a target pattern naming another host's containers, and every tenth a vulnerability
    id with a package pattern."""
    checks = [f"DW{n}" for n in range(201, 237)]
    with open(path, "w") as fh:
        for i in range(entries):
            if i % 10 == 9:
                fh.write(f"- id: CVE-2099-{10000 + i}\n  package: pkg-{i}-*\n")
            else:
                fh.write(f"- check: {checks[i % len(checks)]}\n  target: other-host-{i}-*\n")
            fh.write(f"  reason: bench entry {i}\n")


RENDER_CHILD = """
import json, sys, time
from dockwarden import cli
from dockwarden.commands import engine
from dockwarden.report import text
ns = cli.build_parser(only="containers").parse_args(
    ["containers", "-H", sys.argv[1], "--no-images", "--no-progress"])
report = engine.audit(ns)
out = []
for details in (False, True):
    t = time.perf_counter()
    lines = text.render(report, colour=False, width=100, quiet=False, details=details)
    out += [time.perf_counter() - t, len(lines.splitlines())]
print(json.dumps(out))
"""


def render_time(url: str, env: dict[str, str]) -> tuple[float, int, float, int]:
    """Seconds and lines of the text report (summary, then --details) of the audit."""
    proc = subprocess.run([sys.executable, "-c", RENDER_CHILD, url], capture_output=True,
                          text=True, env=env, timeout=RUN_TIMEOUT, check=True)
    s, n, d, m = json.loads(proc.stdout)
    return float(s), int(n), float(d), int(m)


def bench_size(url: str, ids: list[str], repeat: int, workers: int | None,
               tmp: str, ignore_entries: int = 0, image: str = "") -> SizeResult:
    env = clean_env()
    inspect_argv = [DOCKER_CLI, "-H", url, "inspect", *ids]
    dw_argv = [sys.executable, "-m", *dockwarden_args(url, workers)]
    ignore_file = os.path.join(tmp, "ignore.yml")
    if ignore_entries:
        write_ignore_file(ignore_file, ignore_entries)
    report = os.path.join(tmp, "report.json")
    res = SizeResult(n=len(ids))

    # warm-up (untimed) doubles as a correctness check of both outputs
    inspected = os.path.join(tmp, "inspect.json")
    measure(inspect_argv, inspected, env)
    with open(inspected) as fh:
        got = len(json.load(fh))
    if got != len(ids):
        raise RuntimeError(f"docker inspect returned {got} objects for {len(ids)} ids")
    measure(dw_argv, report, env)

    for i in range(repeat):
        order = [("inspect", inspect_argv, os.devnull), ("dockwarden", dw_argv, report)]
        if ignore_entries:
            order.append(("ignoring", [*dw_argv, "--ignore", ignore_file], os.devnull))
        if image:
            whole = [a for a in dw_argv if a != "--no-images"]
            order.append(("whole", whole, os.devnull))
            order.append(("image", [sys.executable, "-m", "dockwarden", "image", image, "-H",
                                    url, "--format", "json", "--no-progress", "--fail-on",
                                    "none"], os.devnull))
        if i % 2:
            order.reverse()
        for what, argv, out in order:
            run = measure(argv, out, env)
            getattr(res, what).append(run)
            print(f"  N={len(ids)} run {i + 1}/{repeat} {what:10s} {run.wall:7.3f}s "
                  f"maxrss {run.maxrss_kb / 1024:6.1f} MiB", flush=True)

    res.render = render_time(url, env)
    print(f"  N={len(ids)} text render {res.render[0]:.3f}s ({res.render[1]} lines), "
          f"--details {res.render[2]:.3f}s ({res.render[3]} lines)", flush=True)
    with open(report) as fh:
        data = json.load(fh)
    # the report's target is the Engine; count the containers that findings name
    audited = {f["target"].get("id") or f["target"].get("ref")
               for f in data.get("findings") or [] if f["target"].get("kind") == "container"}
    res.report_containers = len(audited)
    res.report_errors = len(data.get("errors") or [])
    res.report_complete = bool(data.get("complete"))
    if res.report_containers != len(ids):
        print(f"  WARNING: findings name {res.report_containers} containers, "
              f"expected {len(ids)}", file=sys.stderr)
    return res


def table(results: list[SizeResult], ignore_entries: int = 0) -> str:
    lines = [
        "| N | docker inspect (s) | dockwarden (s) | ratio dw/inspect | dw ms/container "
        "| dw peak RSS (MiB) | inspect peak RSS (MiB) | containers in findings / report errors |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.n} | {r.t_inspect:.3f} | {r.t_dw:.3f} | {r.t_dw / r.t_inspect:.2f}x "
            f"| {1000 * r.t_dw / r.n:.2f} | {r.rss_dw_mb:.1f} | {r.rss_inspect_mb:.1f} "
            f"| {r.report_containers} / {r.report_errors} |"
        )
    if any(r.whole for r in results):
        lines += ["", "| N | containers (s) | image audit (s) | sum of parts (s) | containers "
                  "with their images (s) | ratio to the sum |", "|---:|---:|---:|---:|---:|---:|"]
        for r in results:
            w, im = r.t_whole or 0.0, r.t_image or 0.0
            lines.append(f"| {r.n} | {r.t_dw:.3f} | {im:.3f} | {r.t_dw + im:.3f} | {w:.3f} "
                         f"| {w / (r.t_dw + im):.2f}x |")
    lines += ["", "| N | text summary (s) | its lines | text --details (s) | its lines |",
              "|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r.n} | {r.render[0]:.3f} | {r.render[1]} | {r.render[2]:.3f} "
                     f"| {r.render[3]} |")
    if ignore_entries:
        lines += ["", f"| N | dockwarden (s) | with --ignore of {ignore_entries:,} entries (s) "
                  "| ratio |", "|---:|---:|---:|---:|"]
        for r in results:
            t = r.t_ignoring or 0.0
            lines.append(f"| {r.n} | {r.t_dw:.3f} | {t:.3f} | {t / r.t_dw:.2f}x |")
    if len(results) >= 2:
        lo, hi = results[0], results[-1]
        nratio = hi.n / lo.n
        lines += [
            "",
            f"Growth N={lo.n} -> N={hi.n} (x{nratio:g} containers): "
            f"docker inspect x{hi.t_inspect / lo.t_inspect:.2f}, "
            f"dockwarden x{hi.t_dw / lo.t_dw:.2f}; "
            f"marginal cost per extra container: docker inspect "
            f"{1000 * (hi.t_inspect - lo.t_inspect) / (hi.n - lo.n):.2f} ms, "
            f"dockwarden {1000 * (hi.t_dw - lo.t_dw) / (hi.n - lo.n):.2f} ms; "
            f"dockwarden peak RSS x{hi.rss_dw_mb / lo.rss_dw_mb:.2f}.",
        ]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100,500", help="comma-separated N (default 100,500)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per command and N")
    ap.add_argument("--workers", type=int, default=None,
                    help="pass --workers to dockwarden (default: its own default)")
    ap.add_argument("--md", default=None, help="also write the markdown table to this file")
    ap.add_argument("--profile", default=None, metavar="DIR",
                    help="after timing each N, profile one dockwarden run into DIR "
                         "(cProfile; py-spy too if installed)")
    ap.add_argument("--ignore-entries", type=int, default=10_000, metavar="N",
                    help="also time dockwarden with an ignore file of N entries "
                         "(default 10000; 0: not)")
    args = ap.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    if not sizes or sizes[0] < 1 or args.repeat < 1:
        ap.error("sizes must be positive integers and --repeat >= 1")
    if os.geteuid() != 0:
        ap.error("run as root (starts a second dockerd)")
    if not os.access(DOCKER_CLI, os.X_OK):
        ap.error(f"{DOCKER_CLI} not found")

    started = datetime.now(UTC)
    results: list[SizeResult] = []
    ids: list[str] = []
    leftover: list[str] = []
    # Own containerd namespaces: the harness derives one from the mkdtemp suffix, which
    # may contain '_' at a position containerd rejects ("namespace validation").
    ns = f"dwbench{os.getpid()}"
    flags = [f"--containerd-namespace={ns}", f"--containerd-plugins-namespace={ns}-plugins"]
    with ExtraDaemon(flags=flags) as d, tempfile.TemporaryDirectory(prefix="dwbench-") as tmp:
        try:
            api = d.client(timeout=120)
            version = api.version()
            print(f"extra dockerd {version.get('Version')} at {d.url} "
                  f"(up in {d.startup_seconds:.1f}s)", flush=True)
            image = busybox_image(api)
            deadline = time.monotonic() + START_DEADLINE
            for n in sizes:
                grow_to(api, image, ids, n, deadline)
                results.append(bench_size(d.url, ids[:n], args.repeat, args.workers, tmp,
                                          args.ignore_entries, image))
                if args.profile:
                    profile(d.url, n, args.workers, args.profile)
            api.close()
        finally:
            t0 = time.monotonic()
            leftover = remove_all(d.url, ids)
            print(f"removed {len(ids) - len(leftover)} of {len(ids)} containers in "
                  f"{time.monotonic() - t0:.1f}s", flush=True)
            if leftover and d.pid:
                # a stuck daemon would make the harness teardown's per-container kill
                # calls wait for their timeouts; kill it outright instead
                with contextlib.suppress(ProcessLookupError):
                    os.kill(d.pid, signal.SIGKILL)
    if leftover:
        print(f"killed the processes of {reap_orphans(ids)} leftover containers",
              flush=True)

    md = table(results, args.ignore_entries)
    which = subprocess.run(
        [sys.executable, "-c", "import dockwarden as d; print(d.__version__, d.__file__)"],
        capture_output=True, text=True, env=clean_env(), check=False).stdout.strip()
    meta = (f"{started:%Y-%m-%d %H:%M} UTC, dockwarden {which}, {os.cpu_count()} CPUs, "
            f"{os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 2**30:.1f} GiB RAM, "
            f"Python {platform.python_version()}, repeat={args.repeat}, "
            f"dockwarden workers={args.workers or 'default'}")
    print()
    print(meta)
    print()
    print(md)
    if args.md:
        with open(args.md, "w") as fh:
            fh.write(meta + "\n\n" + md + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
