"""Benchmark: `dockwarden probe`'s total time against the floor, the time to start and
remove one container (`docker run --rm IMAGE true`).

Run as root from the repository root, with the Docker Engine running:

    python bench/probe.py [--repeat 5] [--image REF] [--fork-cap 512] [--md FILE]

(set PYTHONPATH=<dir>/src to benchmark another checkout than the installed one).

Public tools only: the floor is the docker CLI's `docker run --rm IMAGE true` (create,
start, wait, remove one container); the probe is `python -m dockwarden probe --image IMAGE
--format json --no-progress --fail-on none`, once under the Engine's defaults (the fork
test runs to its cap) and once with `--run-flags '--pids-limit 64 --memory 64m'` (the
fork test is stopped near 64). Each command runs as a direct child reaped with os.wait4
(bench/_child.py). After one untimed warm-up of each, every command runs `--repeat` times,
the order rotated each round; medians are reported with the ratio probe / floor. The
probe starts two canaries (the one under test and its peer on the default bridge) and runs
five measurements in the first by `exec`, so a ratio of a few times the floor is the
shape to expect; the image is the busybox test image unless --image names another.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _child import ChildRun, run_child  # noqa: E402

LABEL = "dockwarden.bench=probe"


def _commands(image: str, fork_cap: int) -> dict[str, list[str]]:
    docker = shutil.which("docker") or "docker"
    probe = [sys.executable, "-m", "dockwarden", "probe", "--image", image,
             "--fork-cap", str(fork_cap), "--format", "json", "--no-progress",
             "--fail-on", "none", "--label", LABEL]
    return {
        "floor: docker run --rm IMAGE true": [docker, "run", "--rm", "--label", LABEL,
                                              image, "true"],
        "probe (Engine defaults)": probe,
        "probe --run-flags '--pids-limit 64 --memory 64m'": [
            *probe, "--run-flags", "--pids-limit 64 --memory 64m"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5, help="timed runs of each command")
    ap.add_argument("--image", help="local image with /bin/sh (default: the busybox test "
                    "image, imported from the host's busybox-static)")
    ap.add_argument("--fork-cap", type=int, default=512, help="probe's --fork-cap")
    ap.add_argument("--md", help="append the table in Markdown to this file")
    ns = ap.parse_args()
    image = ns.image
    if not image:
        from harness.engine import make_client
        from harness.images import busybox_image

        api = make_client("unix:///var/run/docker.sock")
        try:
            image = busybox_image(api)
        finally:
            api.close()
    commands = _commands(image, ns.fork_cap)
    env = dict(os.environ)
    runs: dict[str, list[ChildRun]] = {name: [] for name in commands}
    names = list(commands)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out")
        for name in names:  # warm-up: page cache, image layers, Python bytecode
            run_child(commands[name], out, env, timeout=600)
        for round_ in range(ns.repeat):
            order = names[round_ % len(names):] + names[:round_ % len(names)]
            for name in order:
                runs[name].append(run_child(commands[name], out, env, timeout=600))
    floor = statistics.median(r.wall for r in runs[names[0]])
    rows = []
    for name in names:
        wall = statistics.median(r.wall for r in runs[name])
        cpu = statistics.median(r.cpu for r in runs[name])
        rows.append((name, wall, cpu, wall / floor))
    print(f"{platform.node()}: {os.cpu_count()} CPUs, image {image}, fork cap {ns.fork_cap}, "
          f"median of {ns.repeat}")
    width = max(len(r[0]) for r in rows)
    print(f"{'command':<{width}}  {'wall s':>7}  {'cpu s':>6}  {'x floor':>7}")
    for name, wall, cpu, ratio in rows:
        print(f"{name:<{width}}  {wall:7.2f}  {cpu:6.2f}  {ratio:7.1f}")
    if ns.md:
        with open(ns.md, "a", encoding="utf-8") as fh:
            fh.write("| command | wall s | cpu s (the CLI's own) | x floor |\n"
                     "| --- | ---: | ---: | ---: |\n")
            for name, wall, cpu, ratio in rows:
                fh.write(f"| `{name}` | {wall:.2f} | {cpu:.2f} | {ratio:.1f} |\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
