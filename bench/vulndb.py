"""Benchmark: vulnerability database import and matching.

Run from the repository root:

    python bench/vulndb.py [--repeat 5] [--advisories 50000] [--packages 2000]
                           [--stale 0.1] [--skip-import] [--md FILE]

Measured, in this process (perf_counter; medians of `--repeat` runs after one warm-up):

1. import of the PyPA advisory zip (../shared/data, 2,661 OSV documents): `import_any`
   + `Writer.replace_source` + `commit` into a new file; the file's size;
2. import of a synthetic OSV Debian `all.zip` of `--advisories` documents
   (`bench/_vulndata.py::synthetic_debian_osv_zip`: DEBIAN-CVE-* records for Debian
   11/12/13, 6,000 source packages, a few heavy ones such as linux); the file's size;
3. matching an inventory of `--packages` packages against the database holding both: a
   mix of Debian binary packages (75 %, several binaries per source, dpkg Source:
   fields, as in a real image) and PyPI distributions (25 %), all named in the database,
   each installed at the version below which a fraction `--stale` of its records' fixes
   lie (0.1: an image a few months behind, about a tenth of each package's advisories
   apply; 0.5: an image years behind, half of them). One run = a fresh `Matcher`, a
   fresh database view and cold version caches: `Matcher(db).match(packages, debian 12)`;
4. the floor for 3: a plain loop over the same distinct (ecosystem, name) keys that only
   does `VulnDB.raw_lookup` (the bare SQLite rows, no decoding, no version work). Runs of
   3 and 4 alternate. The ratio match/floor is what matching adds to the queries.

Target (issue 4): matching 2,000 packages under 0.5 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dockwarden.model.image import OSRelease, Package  # noqa: E402
from dockwarden.vuln import versions  # noqa: E402
from dockwarden.vuln.db import SourceInfo, VulnDB, Writer  # noqa: E402
from dockwarden.vuln.importers.detect import import_any  # noqa: E402
from dockwarden.vuln.match import Matcher  # noqa: E402

PYPA_ZIP = ROOT.parent / "shared" / "data" / "osv-pypi-pypa-advisory-database.zip"
BOOKWORM = OSRelease("debian", "12", "bookworm", "Debian GNU/Linux 12 (bookworm)")

def synthetic_zip(path: Path, n: int, seed: int) -> Path:
    from _vulndata import synthetic_debian_osv_zip

    return synthetic_debian_osv_zip(path, n, seed)


def import_into(db: Path, data: Path) -> tuple[float, int, str]:
    """(seconds, advisories, source) for importing one file into `db` (kept sources
    copied, as `db import` does)."""
    t0 = time.perf_counter()
    got = import_any(data)
    with Writer(db) as w:
        info = w.replace_source(SourceInfo(got.source, str(data), _now(), 0, 0),
                                got.advisories)
        w.commit()
    return time.perf_counter() - t0, info.advisories, got.source


def _now() -> object:
    import datetime as dt
    return dt.datetime.now(dt.UTC)


def median_of(repeat: int, run: Callable[[], float]) -> tuple[float, list[float]]:
    run()  # warm-up
    times = [run() for _ in range(repeat)]
    return statistics.median(times), times


def inventory(db: Path, n: int, seed: int, stale: float = 0.1) -> list[Package]:
    """`n` packages named in the database: 75 % Debian binaries, 25 % PyPI."""
    import sqlite3

    rnd = random.Random(seed)
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    fixes: dict[tuple[str, str], list[str]] = {}
    for eco, name, fixed in con.execute(
            "SELECT ecosystem, name, fixed FROM affected WHERE fixed != '' AND "
            "((ecosystem='Debian' AND release='bookworm') OR ecosystem='PyPI')"):
        fixes.setdefault((eco, name), []).append(fixed)
    con.close()
    deb_names = sorted(k[1] for k in fixes if k[0] == "Debian")
    pypi_names = sorted(k[1] for k in fixes if k[0] == "PyPI")
    rnd.shuffle(deb_names)
    rnd.shuffle(pypi_names)

    def median_fix(eco: str, name: str) -> str:
        """The fixed version with about `stale` of the package's fixes above it."""
        sch = versions.scheme(eco)
        ordered = sorted((v for v in fixes[eco, name] if sch.key(v) is not None),
                         key=sch.key)
        if not ordered:
            return "0"
        return ordered[min(len(ordered) - 1, int(len(ordered) * (1 - stale)))]

    packages: list[Package] = []
    n_deb = n * 3 // 4
    sources = iter(deb_names)
    while len(packages) < n_deb:
        src = next(sources)
        version = median_fix("Debian", src)
        for binary in (f"lib{src}0", src, f"{src}-data")[:rnd.randint(1, 3)]:
            binv = version + ("+b1" if rnd.random() < 0.1 else "")
            packages.append(Package("deb", binary, binv, 0, "/var/lib/dpkg/status", src,
                                    version, "amd64"))
    packages = packages[:n_deb]
    for name in pypi_names[:n - len(packages)]:
        packages.append(Package("pypi", name, median_fix("PyPI", name), 1,
                                f"/usr/lib/python3/dist-packages/{name}.dist-info/METADATA"))
    if len(packages) < n:
        raise SystemExit(f"the database names only {len(packages)} packages (< {n})")
    return packages


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--advisories", type=int, default=50_000)
    ap.add_argument("--packages", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--stale", type=float, default=0.1,
                    help="fraction of each package's advisories that apply (default 0.1)")
    ap.add_argument("--skip-import", action="store_true",
                    help="import each source once, untimed, and time matching only")
    ap.add_argument("--md", metavar="FILE", help="also write the result table here")
    ns = ap.parse_args()
    if not PYPA_ZIP.is_file():
        print(f"{PYPA_ZIP} absent: ../shared/data is needed", file=sys.stderr)
        return 2
    lines = [f"python {platform.python_version()}, {platform.machine()}, "
             f"{os.cpu_count()} CPUs; medians of {ns.repeat} runs after a warm-up", ""]
    with tempfile.TemporaryDirectory(prefix="dw-bench-vulndb-") as tmp:
        tmpd = Path(tmp)
        syn = synthetic_zip(tmpd / "debian-all.zip", ns.advisories, ns.seed)

        def run_import(data: Path, name: str) -> tuple[float, int, int]:
            sizes: list[int] = []
            counts: list[int] = []

            def once() -> float:
                db = tmpd / f"{name}.sqlite"
                db.unlink(missing_ok=True)
                seconds, count, _ = import_into(db, data)
                sizes.append(db.stat().st_size)
                counts.append(count)
                return seconds
            med, _ = median_of(ns.repeat if name == "pypa" else max(1, ns.repeat // 2), once)
            return med, counts[-1], sizes[-1]

        if not ns.skip_import:
            pypa_s, pypa_n, pypa_size = run_import(PYPA_ZIP, "pypa")
            syn_s, syn_n, syn_size = run_import(syn, "debian")
            lines += [
                "| import | advisories | time (s) | database size (MiB) |",
                "| --- | ---: | ---: | ---: |",
                f"| PyPA zip (osv-PyPI) | {pypa_n:,} | {pypa_s:.2f} | "
                f"{pypa_size / 2**20:.1f} |",
                f"| synthetic OSV Debian (bench/_vulndata.py) | {syn_n:,} | {syn_s:.2f} | "
                f"{syn_size / 2**20:.1f} |", ""]

        both = tmpd / "both.sqlite"
        import_into(both, PYPA_ZIP)
        import_into(both, syn)
        packages = inventory(both, ns.packages, ns.seed, ns.stale)
        kinds = {t: sum(1 for p in packages if p.type == t) for t in ("deb", "pypi")}
        vdb = VulnDB(both)
        keys = sorted({("Debian", (p.source_name or p.name).lower()) if p.type == "deb"
                       else ("PyPI", p.name) for p in packages})
        found: list[int] = []

        def match_once() -> float:
            versions.scheme.cache_clear()
            vdb.clear_caches()  # a fresh view: advisories decoded again
            t0 = time.perf_counter()
            result = Matcher(vdb).match(packages, BOOKWORM)
            elapsed = time.perf_counter() - t0
            found.append(len(result.matches))
            return elapsed

        def floor_once() -> float:
            t0 = time.perf_counter()
            rows = 0
            for eco, name in keys:
                rows += len(vdb.raw_lookup(eco, name))
            elapsed = time.perf_counter() - t0
            found.append(-rows)
            return elapsed

        match_once()
        floor_once()
        m_times: list[float] = []
        f_times: list[float] = []
        for i in range(ns.repeat):
            pair = [(match_once, m_times), (floor_once, f_times)]
            for fn, bucket in (pair if i % 2 == 0 else pair[::-1]):
                bucket.append(fn())
        vdb.close()
        m, fl = statistics.median(m_times), statistics.median(f_times)
        matches = next(x for x in found if x >= 0)
        rows = -next(x for x in found if x < 0)
        lines += [
            f"Matching {len(packages):,} packages ({kinds['deb']:,} deb from "
            f"{len({p.source_name for p in packages if p.type == 'deb'}):,} source packages, "
            f"{kinds['pypi']:,} pypi; {len(keys):,} distinct lookups, {rows:,} rows of every "
            f"release) against both, `--stale {ns.stale}`: {matches:,} matches.", "",
            "| what | time (s) | ratio to the floor |",
            "| --- | ---: | ---: |",
            f"| `Matcher.match` (cold caches) | {m:.3f} | {m / fl:.1f}x |",
            f"| floor: `raw_lookup` loop | {fl:.3f} | 1.0x |", "",
            f"Target under 0.5 s: {'met' if m < 0.5 else 'NOT met'} ({m:.3f} s).",
        ]
    text = "\n".join(lines) + "\n"
    print(text)
    if ns.md:
        Path(ns.md).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
