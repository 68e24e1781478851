"""Benchmark: `dockwarden compose` against `docker-compose config -q` over the 39 compose
files of the shared corpus (issue 16: validation with the Compose Specification's schema,
env_file reading and Dockerfile users must keep it faster than Compose parsing them).

Run from the repository root (Debian's docker-compose 1.29.2 on PATH):

    python bench/compose.py [--repeat 3] [--corpus DIR]

Each corpus file is copied to its own temporary project directory as compose.yaml, with
what `docker-compose config` requires to exist: every `build:` context (holding a
two-line Dockerfile, `FROM alpine:3.20` + `USER app`, which dockwarden then parses for
DW220), `env_file`s and file secrets/configs (empty files). Both tools then read the very
same files. Measured in the same run, alternating which goes first:

* `dockwarden compose P1/compose.yaml ... P39/compose.yaml --format json --fail-on none
  -o /dev/null`: one process, all 39 projects;
* the same, one process per project (39 processes, wall times summed);
* `docker-compose -f Pn/compose.yaml config -q`: one process per project (Compose takes
  one project per call), wall times summed;
* in-process: `load_project` (parse, interpolate, validate, merge) over the 39 files,
  and the schema validation alone, to show what validation costs.

Wall time is the median of the repeats; each command runs once first, untimed (warm-up,
and its exit code is recorded: docker-compose 1.29.2 refuses the one corpus file with a
top-level `name:`, a key later Compose versions added; that is counted, not hidden).
Every command runs with a bytecode cache (PYTHONPYCACHEPREFIX in a temporary
directory), as an installed tool has its .pyc files. Prints a markdown table.
Target: dockwarden faster than docker-compose parsing the same files.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from _child import bytecode_cache_env, dockwarden_argv

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO.parent / "shared" / "data" / "compose"
PYCACHE, ENV = bytecode_cache_env("dw-compose-bench-pyc-")


def run(argv: list[str]) -> tuple[float, int]:
    start = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          env=ENV, check=False)
    return time.perf_counter() - start, proc.returncode


def _touch(base: Path, name: Any) -> None:
    if isinstance(name, str) and name and not os.path.isabs(name) and ".." not in name:
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()


def stage(corpus: Path, into: Path) -> list[str]:
    """Each corpus file as `<into>/<n>/compose.yaml` with the paths Compose checks."""
    out = []
    files = sorted(p for p in corpus.iterdir() if p.suffix in (".yaml", ".yml"))
    for n, src in enumerate(files):
        project = into / f"{n:02d}"
        project.mkdir()
        dst = project / "compose.yaml"
        shutil.copyfile(src, dst)
        data = yaml.safe_load(src.read_text()) or {}
        for svc in (data.get("services") or {}).values():
            if not isinstance(svc, dict):
                continue
            build = svc.get("build")
            context = build if isinstance(build, str) else (
                build.get("context", ".") if isinstance(build, dict) else None)
            if isinstance(context, str) and "://" not in context:
                ctx = project / context
                ctx.mkdir(parents=True, exist_ok=True)
                name = build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else (
                    "Dockerfile")
                dockerfile = ctx / name
                dockerfile.parent.mkdir(parents=True, exist_ok=True)
                if not dockerfile.exists():
                    dockerfile.write_text("FROM alpine:3.20\nUSER app\n")
            env_file = svc.get("env_file")
            for item in env_file if isinstance(env_file, list) else [env_file]:
                _touch(project, item.get("path") if isinstance(item, dict) else item)
        for section in ("secrets", "configs"):
            for decl in (data.get(section) or {}).values():
                if isinstance(decl, dict):
                    _touch(project, decl.get("file"))
        out.append(str(dst))
    return out


def in_process(files: list[str], repeat: int) -> tuple[float, float]:
    from dockwarden.collect import compose

    loads, checks = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        for path in files:
            compose.load_project([path], env={})
        loads.append(time.perf_counter() - start)
        parsed = []
        for path in files:
            f = compose._parse(path)
            data = compose._Interp({}, path).value(f.data)
            compose._coerce(data)
            parsed.append((f, data))
        start = time.perf_counter()
        for f, data in parsed:
            compose.validate(f, data)  # every corpus file is valid for dockwarden
        checks.append(time.perf_counter() - start)
    return statistics.median(loads), statistics.median(checks)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    args = ap.parse_args()
    if shutil.which("docker-compose") is None:
        print("docker-compose is not on PATH (apt-get install docker-compose)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="dw-compose-bench-") as tmp:
        files = stage(args.corpus, Path(tmp))
        dw = dockwarden_argv()
        one = [*dw, "compose", *files, "--format", "json", "--fail-on", "none", "-o",
               os.devnull]

        def dw_each() -> tuple[float, list[int]]:
            results = [run([*dw, "compose", f, "--format", "json", "--fail-on", "none", "-o",
                            os.devnull]) for f in files]
            return sum(t for t, _ in results), [c for _, c in results]

        def dc_each() -> tuple[float, list[int]]:
            results = [run(["docker-compose", "-f", f, "config", "-q"]) for f in files]
            return sum(t for t, _ in results), [c for _, c in results]

        _, one_code = run(one)  # warm-up (fills the bytecode cache)
        _, dw_codes = dw_each()
        _, dc_codes = dc_each()
        times: dict[str, list[float]] = {"one": [], "dw": [], "dc": []}
        for i in range(args.repeat):
            order = ["one", "dw", "dc"] if i % 2 == 0 else ["dc", "dw", "one"]
            for name in order:
                if name == "one":
                    times["one"].append(run(one)[0])
                elif name == "dw":
                    times["dw"].append(dw_each()[0])
                else:
                    times["dc"].append(dc_each()[0])
        load_s, validate_s = in_process(files, args.repeat)
    med = {k: statistics.median(v) for k, v in times.items()}
    dc_failed = sum(1 for c in dc_codes if c != 0)
    dw_failed = sum(1 for c in dw_codes if c not in (0, 1))
    print(f"{len(files)} compose files, median of {args.repeat}; "
          f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n")
    print("| command | wall (s) | vs docker-compose |")
    print("| --- | ---: | ---: |")
    print(f"| docker-compose config -q, one process per file ({dc_failed} refused) | "
          f"{med['dc']:.2f} | 1.00x |")
    print(f"| dockwarden compose, one process per file ({dw_failed} refused) | "
          f"{med['dw']:.2f} | {med['dc'] / med['dw']:.2f}x faster |")
    print(f"| dockwarden compose, all files in one process (exit {one_code}) | "
          f"{med['one']:.2f} | {med['dc'] / med['one']:.1f}x faster |")
    print(f"| in-process load_project x{len(files)} (parse, validate, merge, Dockerfiles) | "
          f"{load_s:.3f} | |")
    print(f"| in-process schema validation alone x{len(files)} | {validate_s:.3f} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
