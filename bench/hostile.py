"""Benchmark: do the parsers of untrusted input stay linear on their worst case (issue 11)?

Run from the repository root:

    python bench/hostile.py [--sizes 1,2,4,8] [--repeat 3] [--only NAME,...] [--budget 120]
    python bench/hostile.py --fuzz [--seconds 5] [--only NAME,...]

Growth mode: for each target, build its worst-case input at 1, 2, 4 and 8 MB, time the
parse (best of `--repeat`, in this process) and print the growth ratio 8 MB / 1 MB. The
target is <= 10x (linear, with slack; quadratic work would be 64x). A size that takes
longer than `--budget` seconds stops that target (reported as over budget: a failure).

The size caps that protect the CLI (4 MiB per Dockerfile or compose file, 64 KiB per
command line, the YAML node budget) would refuse an 8 MB input in microseconds, so they
are raised here: what is measured is the work itself. The per-instruction continuation
cap of the Dockerfile reader is kept (it is what bounds BuildKit's parser, whose time
grows with continuation lines x instruction length): its worst case is therefore as many
instructions at the cap as fit in the size.

Fuzz mode: for each target, call its parser on random mutations (byte flips, inserts,
deletes, duplicated slices, spliced tokens) of a small seed input for `--seconds` and
report executions per second, how many ended in a DockwardenError, and any other
exception (a crash: the first of each kind is printed, and the exit status is 1).

Adding a target: append a `Target(name, make_input, parse, seed, tokens)` to TARGETS.
`make_input(size)` returns the worst-case input of about `size` bytes (any type `parse`
accepts); `parse(input)` runs the parser; `seed` is a small valid input for fuzzing and
`tokens` strings spliced in by the mutator.
"""

from __future__ import annotations

import argparse
import atexit
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "src"))

from dockwarden.collect import compose, dockerfile, runcmd  # noqa: E402
from dockwarden.errors import DockwardenError  # noqa: E402

MB = 1_000_000
GROWTH_TARGET = 10.0
WORK = tempfile.mkdtemp(prefix="dw-hostile-bench-")
atexit.register(shutil.rmtree, WORK, ignore_errors=True)


def _raise_caps() -> None:
    """Lift the whole-input caps so that the parsers' own work is measured."""
    compose.MAX_FILE_BYTES = 1 << 30
    compose.MAX_NODES = 1 << 30
    compose.MAX_EXPANDED = 1 << 30
    runcmd.MAX_COMMAND = 1 << 30


# --- inputs ---------------------------------------------------------------------------

def _repeat_to(size: int, head: str, unit: str, tail: str = "") -> str:
    return head + unit * max(1, (size - len(head) - len(tail)) // len(unit)) + tail


def dockerfile_continuations(size: int) -> str:
    # Instructions of 4,000 continued lines each (just under the cap), as many as fit.
    line = "  && x y \\\n"
    one = "RUN echo a \\\n" + line * 4000 + "  && true\n"
    return _repeat_to(size, "FROM alpine:3.20\n", one)


def dockerfile_stages(size: int) -> str:
    out = ["FROM alpine:3.20 AS s0\n"]
    total, i = len(out[0]), 0
    while total < size:
        part = f"FROM s{i} AS s{i + 1}\nCOPY --from=s{i} /a /b\n"
        out.append(part)
        total += len(part)
        i += 1
    return "".join(out)


def _write(text: str) -> str:
    path = os.path.join(WORK, "compose.yaml")
    with open(path, "w", encoding="utf-8", errors="surrogatepass") as fh:
        fh.write(text)
    return path


def compose_ports(size: int) -> str:
    return _write(_repeat_to(size, "services:\n  web:\n    image: a:1\n    ports:\n",
                             '      - "1-65535:1-65535"\n'))


def compose_deep(size: int) -> str:
    depth = compose.MAX_DEPTH - 8  # as deep as the loader accepts, many times over
    unit = "x: " + "[" * depth + "1" + "]" * depth + "\n"
    body = _repeat_to(size, "services:\n  web:\n    image: a:1\n    x-deep:\n",
                      "      - " + unit)
    return _write(body)


def compose_interpolation(size: int) -> str:
    depth = compose.MAX_INTERPOLATION_DEPTH  # as deep as accepted, many times over
    unit = "${A:-" * depth + "x" + "}" * depth
    head = "services:\n  web:\n    image: a:1\n    environment:\n      X: \""
    return _write(_repeat_to(size, head, unit, "\"\n"))


def run_ports(size: int) -> str:
    return _repeat_to(size, "docker run", " -p 1-65535:1-65535", " busybox")


# --- parsers --------------------------------------------------------------------------

def parse_dockerfile_text(text: str) -> Any:
    return dockerfile.parse_text("Dockerfile", text)


def lint_dockerfile_text(text: str) -> Any:
    """Parse and judge (the whole Dockerfile handling: checks walk the stages)."""
    from dockwarden.checks.judge import judge_dockerfile
    from dockwarden.checks.registry import Selection

    return judge_dockerfile(dockerfile.parse_text("Dockerfile", text), Selection())


def load_compose(path: str) -> Any:
    return compose.load_project([path], env={"A": ""})


def parse_run_line(line: str) -> Any:
    return runcmd.parse_run(line)


def _compose_text(text: str) -> Any:
    return load_compose(_write(text))


@dataclass(frozen=True)
class Target:
    name: str
    make_input: Callable[[int], Any]
    parse: Callable[[Any], Any]
    seed: str = ""
    fuzz: Callable[[str], Any] | None = None  # parser of a mutated seed (default: parse)
    tokens: tuple[str, ...] = field(default=())


def tar_entries(size: int) -> bytes:
    """A layer of as many tiny files (with long PAX names) as fit in `size` bytes: the tar
    reader's per-entry work."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        i = 0
        while buf.tell() < size:
            info = tarfile.TarInfo(f"usr/share/x/{i:08d}/" + "n" * 120)
            info.size = 1
            tf.addfile(info, io.BytesIO(b"x"))
            i += 1
    return buf.getvalue()


def read_tar(data: bytes | str) -> int:
    import io

    from dockwarden.collect.image.tarstream import TarStream

    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    return sum(1 for _ in TarStream(io.BytesIO(raw)).entries())


def engine_inspect(size: int) -> bytes:
    """One container's inspect answer grown to `size` bytes with environment variables,
    labels and mounts: the Engine answer's shape check and the spec built from it."""
    import json

    n = max(1, size // 120)
    doc = {"Id": "a" * 64, "Name": "/big", "Config": {
        "Env": [f"VAR_{i}=value-{i}-" + "v" * 40 for i in range(n // 2)],
        "Labels": {f"label.{i}": "x" * 30 for i in range(n // 4)}, "Image": "busybox"},
        "HostConfig": {"Binds": [f"/src/{i}:/dst/{i}:ro" for i in range(n // 4)]},
        "Mounts": [], "State": {"Running": False}}
    return json.dumps(doc).encode()


def judge_inspect(data: bytes | str) -> Any:
    from dockwarden.collect.inspect import check_inspect, spec_from_inspect
    from dockwarden.collect.unixhttp import decode

    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    return spec_from_inspect(check_inspect(decode(raw, "inspect")))


DOCKERFILE_SEED = ("FROM alpine:3.20 AS build\nARG V=1\nRUN apk add curl && \\\n"
                   "  curl -fsSL https://x | sh\nCOPY --from=build /a /b\nUSER nobody\n")
COMPOSE_SEED = ("services:\n  web:\n    image: nginx:${V:-1}\n    ports: ['8080:80', "
                "'1-100:1-100']\n    cpus: 1.5\n    environment: [A=1]\n"
                "    extends: {service: db}\n  db:\n    image: db\n")
RUN_SEED = "docker run -d -p 8080:80 -v /a:/b:ro --cpus 1 --restart on-failure:3 nginx sh"

TARGETS: list[Target] = [
    Target("dockerfile-continuations", dockerfile_continuations, parse_dockerfile_text,
           DOCKERFILE_SEED, None, ("\\\n", "RUN ", "FROM ", "<<EOF\n", "EOF\n", "${A:-",
                                  "# escape=`\n", "`\n", "$(", "\"", "'", "\x00")),
    Target("dockerfile-stages", dockerfile_stages, parse_dockerfile_text, DOCKERFILE_SEED,
           None, ("FROM s AS s\n", "COPY --from=0 /a /b\n", "--from=²")),
    Target("dockerfile-stages-judged", dockerfile_stages, lint_dockerfile_text,
           DOCKERFILE_SEED, lint_dockerfile_text, ("FROM build\n", "COPY --from=1 a b\n")),
    Target("compose-port-ranges", compose_ports, load_compose, COMPOSE_SEED, _compose_text,
           ("1-65535:1-65535", "- ", ": ", "[", "]", "{", "}", "1e400", "&a ", "*a")),
    Target("compose-deep-yaml", compose_deep, load_compose, COMPOSE_SEED, _compose_text,
           ("[" * 10, "{a: ", "]", "}", "- ", "\n  ")),
    Target("compose-interpolation", compose_interpolation, load_compose, COMPOSE_SEED,
           _compose_text, ("${A:-", "${B:?", "}", "$$", "$")),
    Target("run-command-port-ranges", run_ports, parse_run_line, RUN_SEED, None,
           (" -p 1-65535:1-65535", " --mount type=bind,src=/,dst=/h", " -e", " '", "\"",
            " --cpus 1e400", " --", " sudo")),
    Target("tar-entries", tar_entries, read_tar, "", read_tar,
           ("ustar", "\x00" * 100, "size=-1536\n", "0" * 11)),
    Target("engine-inspect", engine_inspect, judge_inspect, '{"Id": "x", "Config": {}}',
           None, ('"Env": 5', "[", "]", "{", "}", '"\\ud800"', "1e400")),
]

# The advisory importers' worst cases (OSV records, the Debian tracker, Alpine secdb).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostile_feeds import feed_targets  # noqa: E402

TARGETS += [Target(*row) for row in feed_targets()]


# --- growth ---------------------------------------------------------------------------

def best_of(parse: Callable[[Any], Any], data: Any, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        try:
            parse(data)
        except DockwardenError as exc:  # a refusal is a result too, but say so
            print(f"    (refused: {exc.message[:100]})", file=sys.stderr)
        best = min(best, time.perf_counter() - t0)
    return best


def growth(targets: list[Target], sizes: list[int], repeat: int, budget: float) -> int:
    print(f"| target | {' | '.join(f'{s} MB' for s in sizes)} | growth "
          f"{sizes[-1]}/{sizes[0]} MB | verdict |")
    print("|---|" + "---|" * len(sizes) + "---|---|")
    failed = 0
    for target in targets:
        times: list[float] = []
        for size in sizes:
            data = target.make_input(size * MB)
            t = best_of(target.parse, data, repeat)
            times.append(t)
            if t > budget:
                break
        cells = [f"{t:.3f} s" for t in times] + ["-"] * (len(sizes) - len(times))
        if len(times) == len(sizes):
            ratio = times[-1] / max(times[0], 1e-9)
            ok = ratio <= GROWTH_TARGET
            verdict = "ok" if ok else f"over {GROWTH_TARGET:g}x"
            shown = f"{ratio:.1f}x"
        else:
            ok, verdict, shown = False, f"over the {budget:g} s budget", "-"
        failed += not ok
        print(f"| {target.name} | {' | '.join(cells)} | {shown} | {verdict} |", flush=True)
    return 1 if failed else 0


# --- fuzz -----------------------------------------------------------------------------

def mutate(rng: random.Random, seed: str, tokens: tuple[str, ...]) -> str:
    text = list(seed)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(6)
        pos = rng.randrange(len(text) + 1)
        if op == 0 and text:  # flip a character
            text[min(pos, len(text) - 1)] = chr(rng.choice((rng.randrange(128),
                                                           rng.randrange(0x110000))))
        elif op == 1:  # insert a random character
            text.insert(pos, chr(rng.randrange(0x110000)))
        elif op == 2 and text:  # delete a slice
            del text[pos:pos + rng.randint(1, 16)]
        elif op == 3 and text:  # duplicate a slice
            start = rng.randrange(len(text))
            text[pos:pos] = text[start:start + rng.randint(1, 64)] * rng.randint(1, 8)
        elif tokens:  # splice a token, sometimes many times
            text[pos:pos] = list(rng.choice(tokens) * rng.choice((1, 1, 2, 50)))
    return "".join(text)


def fuzz(targets: list[Target], seconds: float, rng_seed: int) -> int:
    print("| target | executions | per second | refused (DockwardenError) | crashes |")
    print("|---|---|---|---|---|")
    crashed = 0
    for target in targets:
        rng = random.Random(rng_seed)
        parse = target.fuzz or target.parse
        runs = refused = crashes = 0
        seen: set[str] = set()
        end = time.perf_counter() + seconds
        t0 = time.perf_counter()
        while time.perf_counter() < end:
            data = mutate(rng, target.seed, target.tokens)
            runs += 1
            try:
                parse(data)
            except DockwardenError:
                refused += 1
            except Exception as exc:  # a crash: what the fuzz tests must never see
                crashes += 1
                kind = f"{type(exc).__name__}: {str(exc)[:120]}"
                if kind not in seen:
                    seen.add(kind)
                    print(f"  crash in {target.name}: {kind}\n    input: {data[:300]!r}",
                          file=sys.stderr)
        rate = runs / (time.perf_counter() - t0)
        crashed += crashes > 0
        print(f"| {target.name} | {runs} | {rate:,.0f} | {refused} | {crashes} |", flush=True)
    return 1 if crashed else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1,2,4,8", help="input sizes in MB (default 1,2,4,8)")
    ap.add_argument("--repeat", type=int, default=3, help="best of N (default 3)")
    ap.add_argument("--budget", type=float, default=120.0,
                    help="seconds one parse may take before the target stops (default 120)")
    ap.add_argument("--only", default="", help="comma-separated target names")
    ap.add_argument("--fuzz", action="store_true", help="report fuzz executions per second")
    ap.add_argument("--seconds", type=float, default=5.0, help="fuzz time per target")
    ap.add_argument("--seed", type=int, default=11, help="fuzz random seed")
    ns = ap.parse_args()
    wanted = {n for n in ns.only.split(",") if n}
    targets = [t for t in TARGETS if not wanted or t.name in wanted]
    if wanted - {t.name for t in TARGETS}:
        ap.error(f"unknown target(s): {', '.join(sorted(wanted - {t.name for t in TARGETS}))}")
    _raise_caps()
    if ns.fuzz:
        return fuzz(targets, ns.seconds, ns.seed)
    return growth(targets, [int(s) for s in ns.sizes.split(",")], ns.repeat, ns.budget)


if __name__ == "__main__":
    sys.exit(main())
