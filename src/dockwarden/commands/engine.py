"""`dockwarden engine | daemon | containers`: one Engine's daemon, host and containers."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from dockwarden.commands import compose, dockerfile, inputs, output
from dockwarden.commands import options as opts
from dockwarden.errors import EngineUnreachable, UsageError
from dockwarden.model.common import TargetKind
from dockwarden.model.finding import Report, ReportError, ReportTarget


def connection_and_output(p: argparse.ArgumentParser) -> None:
    opts.engine_options(p, many=True)
    fleet_options(p)
    opts.output_options(p)


def options(p: argparse.ArgumentParser) -> None:
    """`engine`: the connection, the output, and the images in use."""
    connection_and_output(p)
    images_in_use_options(p)


def daemon_options(p: argparse.ArgumentParser) -> None:
    connection_and_output(p)


def containers_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("names", nargs="*", metavar="NAME", help="container names or id prefixes")
    connection_and_output(p)
    images_in_use_options(p)


def images_in_use_options(p: argparse.ArgumentParser) -> None:
    from dockwarden.commands import image

    g = p.add_argument_group("images in use")
    g.add_argument("--no-images", action="store_true",
                   help="do not audit the images the containers run (by default each "
                   "distinct image is audited once, while the containers are, and its "
                   "findings name the containers that run it)")
    image.vulnerability_options(p, vex=False)


class _Progress:
    """A progress bar on stderr, made on the first call (rich is imported then)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: Any = None
        self._task: Any = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
            self._bar = Progress(TextColumn("inspecting containers"), BarColumn(),
                                 MofNCompleteColumn(), transient=True,
                                 console=Console(file=sys.stderr))
            self._bar.start()
            self._task = self._bar.add_task("inspect", total=total)
        self._bar.update(self._task, completed=done, total=total)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()


# the report target of each Engine command
_KIND = {"engine": TargetKind.ENGINE, "daemon": TargetKind.DAEMON,
         "containers": TargetKind.ENGINE}


def audit(ns: argparse.Namespace) -> Report:
    """The Engine's daemon, host and containers as the command asks; with the
    containers, the images they run (unless --no-images): read in a small pool of
    threads from the moment the container list is known, while the containers are
    inspected, and judged once both are done."""
    from dockwarden.checks.judge import judge_engine
    from dockwarden.collect.connection import connect

    started = output.now()
    selection = output.selection(ns)
    if ns.workers < 1:
        raise UsageError("--workers must be at least 1")
    conn = connect(opts.engine_from(ns), max_pool_size=max(10, ns.workers))
    hook = getattr(ns, "fleet_connected", None)
    if hook is not None:  # a fleet run: its per-Engine deadline may end this connection
        hook(conn)
    progress = _Progress(enabled=not (ns.no_progress or ns.quiet) and sys.stderr.isatty())
    want_containers = ns.command in ("engine", "containers")
    names = tuple(getattr(ns, "names", ()) or ())
    in_use = (_ImagesInUse(ns, conn, selection)
              if want_containers and not getattr(ns, "no_images", False) else None)
    collector = _collector(conn, in_use.listed if in_use is not None else None,
                           names=names, workers=ns.workers,
                           local_facts=not ns.no_local, progress=progress,
                           containers=want_containers,
                           daemon=ns.command in ("engine", "daemon"),
                           host_root=getattr(ns, "host_root", None))
    try:
        snap = collector.collect()
    except BaseException:
        if in_use is not None:
            in_use.stop()
        raise
    finally:
        progress.stop()
    results = judge_engine(snap, selection, daemon=ns.command in ("engine", "daemon"),
                           containers=want_containers)
    errors = [ReportError(t, m) for t, m in snap.errors] + results.errors
    kind = _KIND[ns.command]
    report = Report(
        started=started, finished=output.now(),
        targets=(ReportTarget(kind, snap.endpoint, snap.complete),),
        findings=tuple(results.findings), skipped=tuple(results.skipped),
        errors=tuple(errors), passed=results.passed,
    )
    if in_use is None:
        return report
    return in_use.report(started, report, snap)


def _collector(conn: Any, listed: Callable[[list[dict[str, Any]]], None] | None,
               **kwargs: Any) -> Any:
    """The Engine's collector; `listed` (if any) is handed the container list's rows
    that the collector selected, as soon as it has them, so that the images in use come
    from the one listing."""
    from dockwarden.collect.engine import EngineCollector

    return EngineCollector(conn, rows_listed=listed, **kwargs)


class _ImagesInUse:
    """The distinct images (by id) of the containers audited, read concurrently with the
    container audit. Their image ids come from the collector's container list (`listed`,
    called once it is read and the containers selected by name): the Engine is listed
    once per run, and exactly the containers the collector audits are counted."""

    def __init__(self, ns: argparse.Namespace, conn: Any, selection: Any) -> None:
        self.ns, self.conn, self.selection = ns, conn, selection
        self.batch: Any = None
        self.rows: dict[str, tuple[str, str]] = {}  # container id -> (name, image id)
        self.errors: list[ReportError] = []  # the image audit could not be started
        self.warnings: list[ReportError] = []  # a container whose image is not known
        self.wanted = True
        if selection.only or selection.skip:
            from dockwarden.checks.registry import Scope, checks_for

            self.wanted = bool(checks_for(Scope.IMAGE, selection))  # else nothing to read

    def listed(self, rows: list[dict[str, Any]]) -> None:
        """Start reading the images of the containers in `rows` (in a pool of threads).
        Called from within the collector: raises nothing, a failure here is this part's
        error entry, not the collector's."""
        if not self.wanted or self.batch is not None:
            return
        from dockwarden.commands import image

        try:
            jobs = self._jobs(rows)
            if not jobs:
                return
            pool_size = image.workers()
            api = image.SharedEngine(self.ns, pool_size, api=self.conn.api)
            self.batch = image.Batch(jobs, self.ns, api,
                                     image.wants_vulnerabilities(self.selection), pool_size)
        except Exception as exc:  # a thread that could not be started, say
            from dockwarden.sanitize import excerpt

            self.errors.append(ReportError(self.conn.url, f"images in use not audited: "
                                           f"{type(exc).__name__}: {excerpt(str(exc), 200)}"))

    def stop(self) -> None:
        if self.batch is not None:
            self.batch.stop()

    def _jobs(self, rows: list[dict[str, Any]]) -> list[Any]:
        """One job per distinct image id, named after the reference most of its
        containers use; the rows are the collector's (shape and Id checked)."""
        from dockwarden.commands import image
        from dockwarden.report.text import natural_key
        from dockwarden.sanitize import clean

        used: dict[str, list[str]] = {}  # image id -> the names the containers use
        for row in rows:
            cid, image_id = row["Id"], row.get("ImageID")
            names = [n.lstrip("/") for n in row.get("Names") or []  # null fits [str]
                     if isinstance(n, str) and n.lstrip("/")]
            name = clean(names[0] if names else cid[:12])
            if not isinstance(image_id, str) or not image.ENGINE_IMAGE_ID.fullmatch(image_id):
                self.warnings.append(ReportError(name, "its image was not audited: the "
                                                 "container list gives no image id for it"))
                continue
            self.rows[cid] = (name, image_id)
            ref = row.get("Image")
            used.setdefault(image_id, []).append(
                clean(ref) if isinstance(ref, str) and ref else image_id[:19])
        jobs = []
        for image_id, refs in used.items():
            counts = {r: refs.count(r) for r in refs}
            ref = min(counts, key=lambda r: (-counts[r], natural_key(r)))
            jobs.append(image.Job(name=ref, image_id=image_id))
        return sorted(jobs, key=lambda j: (natural_key(j.name), j.image_id or ""))

    def report(self, started: str, containers: Report, snap: Any) -> Report:
        """The container report and one report per image, the images' findings naming
        the containers (audited) that run them, in natural order."""
        from dataclasses import replace

        from dockwarden.commands import image
        from dockwarden.report.text import natural_key

        extra: list[Report] = []
        errors = tuple(self.errors)
        if errors or self.warnings:
            extra.append(Report(started=started, finished=output.now(),
                                targets=(ReportTarget(TargetKind.IMAGE, "images in use",
                                                      False),) if errors else (),
                                findings=(), errors=errors, warnings=tuple(self.warnings)))
        if self.batch is None:
            return image.merge(started, [containers, *extra])
        audited = {spec.target.id: spec.name for spec in snap.containers}
        parts = [containers, *extra]
        statements: list[Any] = []
        for got in self.batch.results():
            mine = [(cid, name) for cid, (name, iid) in self.rows.items()
                    if iid == got.job.image_id]
            names = [audited[cid] for cid, _ in mine if cid in audited] or \
                [name for _, name in mine]
            got.job = replace(got.job, containers=tuple(sorted(set(names), key=natural_key)))
            parts.append(image.judged(got, self.ns, self.selection, statements, started))
        return image.merge(started, parts)


def _unreachable_report(ns: argparse.Namespace, exc: EngineUnreachable) -> None:
    """Nothing was audited: still write a report that says so when asked for a file."""
    if ns.output and ns.format == "json":
        now = output.now()
        output.write(ns.output, output.render(Report(
            started=now, finished=now,
            targets=(ReportTarget(TargetKind.ENGINE, ns.host or os.environ.get(
                "DOCKER_HOST", "unix:///var/run/docker.sock"), False),),
            findings=(), errors=(ReportError("engine", exc.message),)), ns, False))


def _files_instead(ns: argparse.Namespace, exc: EngineUnreachable) -> Report | None:
    """A bare `dockwarden` with no reachable Engine lints the Dockerfiles and compose
    files under the current directory instead, and says so in one line."""
    from dataclasses import replace

    from dockwarden.collect.compose import find_compose_files

    dockerfiles = [p for p in inputs.script_files(".") if inputs.is_dockerfile(p)]
    composes = find_compose_files(".")
    if not dockerfiles and not composes:
        return None
    print(f"dockwarden: {exc.message}; auditing {len(dockerfiles)} Dockerfile(s) and "
          f"{len(composes)} compose file(s) under {os.getcwd()} instead", file=sys.stderr)
    parts = []
    if dockerfiles:
        parts.append(dockerfile.audit(argparse.Namespace(**{**vars(ns),
                                                              "paths": dockerfiles})))
    if composes:
        parts.append(compose.audit(argparse.Namespace(**{**vars(ns), "paths": composes,
                                                          "merge": [], "profile": []})))
    first = parts[0]
    for other in parts[1:]:
        first = replace(first, targets=first.targets + other.targets,
                        findings=first.findings + other.findings,
                        skipped=first.skipped + other.skipped,
                        errors=first.errors + other.errors, passed=first.passed + other.passed,
                        warnings=first.warnings + other.warnings, finished=other.finished)
    return first


def run(ns: argparse.Namespace) -> int:
    """`engine`, `daemon` or `containers`. A bare `dockwarden` (`ns.implicit`) with no
    Engine to reach lints the Dockerfiles and compose files here instead."""
    endpoints = fleet_endpoints(ns)
    if endpoints is not None:
        return output.finish(audit_fleet(ns, endpoints), ns)
    try:
        report = audit(ns)
    except EngineUnreachable as exc:
        fallback = _files_instead(ns, exc) if getattr(ns, "implicit", False) \
            and not ns.host else None
        if fallback is None:
            _unreachable_report(ns, exc)
            raise
        report = fallback
    return output.finish(report, ns)


# -- many Engines in one run ---------------------------------------------------------------
def _engine_deadline(text: str) -> float:
    return opts.seconds(text, "--engine-deadline")


def fleet_options(p: argparse.ArgumentParser) -> None:
    """The options of a run over many Engines (besides -H and --context repeated:
    engine_options(many=True))."""
    g = p.add_argument_group("many Engines (one report, one target per Engine)")
    g.add_argument("--all-contexts", action="store_true",
                   help="audit the Engine of every Docker context (`docker context ls`)")
    g.add_argument("--hosts", metavar="FILE",
                   help="audit the Engines listed in FILE: one per line, an address "
                   "(ssh://, tcp://, unix://) or context=NAME, optionally followed by "
                   "tlscacert=FILE tlscert=FILE tlskey=FILE tlsverify; # comments and "
                   "blank lines ignored")
    g.add_argument("--parallel", type=opts.positive_int, default=4, metavar="N",
                   help="Engines audited at the same time (default 4)")
    g.add_argument("--engine-deadline", type=_engine_deadline, default=900.0, metavar="SECONDS",
                   help="time limit of each Engine's whole audit in a run over many "
                   "Engines: past it that Engine is an error, the others go on "
                   "(default 900)")


def fleet_endpoints(ns: argparse.Namespace) -> list[Any] | None:
    """The Engines of a run over many (None for the usual one-Engine run)."""
    from dockwarden.collect.connection import Endpoint, check_host, context_names, read_hosts

    hosts = list(getattr(ns, "host_all", None) or [])
    contexts = list(getattr(ns, "context_all", None) or [])
    many = len(hosts) + len(contexts) > 1 or getattr(ns, "hosts", None) \
        or getattr(ns, "all_contexts", False)
    if not many:
        return None
    tls = {"tlsverify": bool(ns.tlsverify or ns.tlscacert), "tlscacert": ns.tlscacert,
           "tlscert": ns.tlscert, "tlskey": ns.tlskey}
    out: list[Endpoint] = []
    for host in hosts:
        check_host(host)
        out.append(Endpoint(host=host, **tls))
    out += [Endpoint(context=name) for name in contexts]
    if getattr(ns, "all_contexts", False):
        out += [Endpoint(context=name) for name in context_names()]
    if getattr(ns, "hosts", None):
        out += read_hosts(ns.hosts)
    unique: dict[Endpoint, None] = dict.fromkeys(out)
    return list(unique)


def _for_endpoint(ns: argparse.Namespace, ep: Any, connected: Any) -> argparse.Namespace:
    return argparse.Namespace(**{
        **vars(ns), "host": ep.host,
        "context": None if ep.host else (ep.context or "default"),
        "tls": bool(ep.tlscert or ep.tlscacert), "tlsverify": ep.tlsverify,
        "tlscacert": ep.tlscacert, "tlscert": ep.tlscert, "tlskey": ep.tlskey,
        "no_progress": True, "fleet_connected": connected,
    })


def _tagged(report: Report, engine: str) -> Report:
    """The report of one Engine with every finding carrying that Engine (evidence
    `engine`) and every error entry naming it."""
    from dataclasses import replace

    findings = tuple(replace(f, evidence={**f.evidence, "engine": engine})
                     for f in report.findings)
    ignored = tuple((replace(f, evidence={**f.evidence, "engine": engine}), why)
                    for f, why in report.ignored)
    errors = tuple(e if e.target == engine or e.target.startswith(engine + " ")
                   else replace(e, target=f"{engine} {e.target}") for e in report.errors)
    return replace(report, findings=findings, ignored=ignored, errors=errors)


def audit_fleet(ns: argparse.Namespace, endpoints: list[Any]) -> Report:
    """Every Engine audited as the one-Engine command does, `--parallel` at a time, each
    within `--engine-deadline`: an Engine that cannot be reached, or whose audit fails or
    takes too long, is an incomplete target with its error; the others complete. One
    report, the Engines' parts in the order they were named."""
    import threading

    from dockwarden.commands.image import merge
    from dockwarden.errors import DockwardenError

    started = output.now()
    if ns.workers < 1:
        raise UsageError("--workers must be at least 1")
    kind = _KIND[ns.command]
    parts: list[Report | None] = [None] * len(endpoints)
    lock = threading.Lock()
    pending = list(enumerate(endpoints))

    def failed(ep: Any, message: str) -> Report:
        now = output.now()
        return Report(started=now, finished=now, targets=(ReportTarget(kind, ep.label, False),),
                      findings=(), errors=(ReportError(ep.label, message),))

    def one(i: int, ep: Any, conns: list[Any]) -> None:
        try:
            report = audit(_for_endpoint(ns, ep, conns.append))
            engine = next((t.ref for t in report.targets
                           if t.kind in (TargetKind.ENGINE, TargetKind.DAEMON)), ep.label)
            parts[i] = _tagged(report, engine)
        except DockwardenError as exc:
            parts[i] = failed(ep, exc.message)
        except Exception as exc:  # one Engine's failure is its own entry, not the run's
            parts[i] = failed(ep, f"audit failed: {type(exc).__name__}: {exc}")

    def worker() -> None:
        while True:
            with lock:
                if not pending:
                    return
                i, ep = pending.pop(0)
            conns: list[Any] = []
            t = threading.Thread(target=one, args=(i, ep, conns), daemon=True,
                                 name=f"dockwarden-engine-{i}")
            t.start()
            t.join(ns.engine_deadline)
            if t.is_alive():  # past its deadline: end its connections, report it
                for conn in conns:
                    _end(conn)
                parts[i] = failed(ep, f"no complete audit within --engine-deadline "
                                  f"{ns.engine_deadline:g} s")

    workers = [threading.Thread(target=worker, daemon=True, name="dockwarden-fleet")
               for _ in range(min(ns.parallel, len(endpoints)))]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return merge(started, [p for p in parts if p is not None])


def _end(conn: Any) -> None:
    import contextlib

    getter = conn.getter
    with contextlib.suppress(Exception):
        if hasattr(getter, "shutdown"):
            getter.shutdown()
        else:
            getter.close()
