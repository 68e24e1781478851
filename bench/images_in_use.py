"""Benchmark: `dockwarden containers` with the images in use, against its parts run one
after another in the same run.

Run as root from the repository root, with the Docker Engine running:

    python bench/images_in_use.py [--containers 4] [--repeat 3] [--image REF]... [--db PATH]
                                  [--md FILE]

(set PYTHONPATH=<dir>/src to benchmark another checkout than the installed one).

On the main Engine (unix socket), three images are made without any network: the
busybox test image (tests/harness, imported from the host's busybox-static), and two
built FROM it by `docker build` with a tiny Dockerfile: one with a small extra layer,
one with a layer of 3,000 small text files (what the walker and the secret scan read).
`--containers` labelled containers of each image are created (not started: the audit
reads every container the Engine has). Then, by name, so nothing else on the Engine is
audited:

* (a) `dockwarden containers --no-images NAMES`: the container audit alone;
* (b) `dockwarden image REF` for each image in turn: the image audits one after another;
* (c) `dockwarden containers NAMES`: the containers and their images, read concurrently.

Each command runs as a direct child reaped with os.wait4 (bench/_child.py: wall time,
CPU time, peak RSS), all with `--format json --no-progress --fail-on none`, output to a
temp file that is checked (c must name every image once). After one untimed warm-up,
the three are run `--repeat` times, the order rotated each round; medians are reported,
and the ratio c / (a + b): at most 1 means the whole audit costs no more than its parts
run one after another. With no `--db`, no vulnerability database is read (DW309/DW310
are skipped in all three alike). The containers and built images are removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import uuid
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _child import ChildRun, run_child  # noqa: E402

from harness.images import busybox_image, labels  # noqa: E402

BENCH_LABEL = "dockwarden.bench"
RUN_TIMEOUT = 600.0


def build(api: Any, base: str, tag: str, body: str, run_id: str) -> str:
    dockerfile = f"FROM {base}\n{body}\nLABEL {BENCH_LABEL}.run={run_id}\n".encode()
    for _ in api.build(fileobj=io.BytesIO(dockerfile), tag=tag, rm=True, forcerm=True,
                       labels=labels(**{BENCH_LABEL: "1"}), decode=True):
        pass
    return tag


def make_images(api: Any, run_id: str) -> tuple[list[str], list[str]]:
    """(every image ref, the refs built here and to be removed)."""
    base = busybox_image(api)
    small = build(api, base, f"dwbench/iu-{run_id}:small",
                  f"RUN echo {run_id} > /small && mkdir -p /app", run_id)
    files = build(api, base, f"dwbench/iu-{run_id}:files",
                  "RUN mkdir -p /app/data && cd /app/data && i=0 && "
                  "while [ $i -lt 3000 ]; do echo \"line $i of a config file, token=$i\" "
                  "> f$i.conf; i=$((i+1)); done", run_id)
    return [base, small, files], [small, files]


def measure(argv: list[str], env: dict[str, str], out: str) -> ChildRun:
    return run_child(argv, out, env, RUN_TIMEOUT)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--containers", type=int, default=4, help="containers per image")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--image", action="append", default=[], metavar="REF",
                    help="also run containers of this local image (kept afterwards; "
                    "e.g. a larger one, where the walk is CPU-bound)")
    ap.add_argument("--db", help="vulnerability database to match against (default: none)")
    ap.add_argument("--md", help="append a Markdown table of the results to this file")
    args = ap.parse_args()

    import docker

    api = docker.APIClient(base_url="unix:///var/run/docker.sock", timeout=300)
    run_id = uuid.uuid4().hex[:8]
    cache = tempfile.mkdtemp(prefix="dwbench-iu-")
    env = {k: v for k, v in os.environ.items() if k != "DOCKWARDEN_DB"}
    env["XDG_CACHE_HOME"] = cache  # no user database unless --db names one
    common = ["--format", "json", "--no-progress", "--fail-on", "none"]
    if args.db:
        common += ["--db", args.db]
    dw = [sys.executable, "-m", "dockwarden"]
    created: list[str] = []
    built: list[str] = []
    try:
        refs, built = make_images(api, run_id)
        refs += args.image
        names = []
        for i, ref in enumerate(refs):
            for k in range(args.containers):
                name = f"dwbench-iu-{run_id}-{i}-{k}"
                created.append(api.create_container(
                    ref, name=name, labels=labels(**{BENCH_LABEL: "1"}))["Id"])
                names.append(name)
        cpus = len(os.sched_getaffinity(0))
        print(f"{len(names)} containers of {len(refs)} images; {cpus} CPUs; "
              f"python {platform.python_version()}", flush=True)
        out = os.path.join(cache, "report.json")

        def run_a() -> float:
            return measure([*dw, "containers", "--no-images", *names, *common], env, out).wall

        def run_b() -> float:
            return sum(measure([*dw, "image", ref, *common], env, out).wall for ref in refs)

        def run_c() -> float:
            wall = measure([*dw, "containers", *names, *common], env, out).wall
            with open(out) as fh:
                rep = json.load(fh)
            images = [t["ref"] for t in rep["targets"] if t["kind"] == "image"]
            if sorted(images) != sorted(refs) or not rep["complete"]:
                raise RuntimeError(f"(c) audited images {images}, expected {refs}: "
                                   f"{rep['errors']}")
            return wall

        subjects = {"a": run_a, "b": run_b, "c": run_c}
        for fn in subjects.values():  # warm-up: page cache, Engine caches, imports
            fn()
        times: dict[str, list[float]] = {k: [] for k in subjects}
        order = list(subjects)
        for r in range(args.repeat):
            for key in order[r % 3:] + order[:r % 3]:
                times[key].append(subjects[key]())
        med = {k: statistics.median(v) for k, v in times.items()}
        ratio = med["c"] / (med["a"] + med["b"])
        rows = [
            ("(a) containers --no-images", med["a"]),
            (f"(b) image REF x {len(refs)}, in turn", med["b"]),
            ("(c) containers with images", med["c"]),
        ]
        for label, t in rows:
            print(f"{label:38s} {t:7.3f} s")
        print(f"c / (a + b) = {ratio:.2f}   (c - a) / b = {(med['c'] - med['a']) / med['b']:.2f}")
        if args.md:
            with open(args.md, "a") as fh:
                fh.write(f"\n| {len(names)} containers, {len(refs)} images, "
                         f"{cpus} CPUs | a {med['a']:.3f} s | b {med['b']:.3f} s | "
                         f"c {med['c']:.3f} s | c/(a+b) {ratio:.2f} |\n")
        return 0
    finally:
        for cid in created:
            with contextlib.suppress(Exception):
                api.remove_container(cid, force=True)
        for ref in built:
            with contextlib.suppress(Exception):
                api.remove_image(ref, force=True)
        api.close()


if __name__ == "__main__":
    sys.exit(main())
