"""`dockwarden image`: images from the Engine (named, or `--all`), a registry, a `docker save`
tarball or an OCI layout; several at once in a small pool, one target each. Also the
reading and judging of the images in use for `dockwarden engine` (commands/engine.py)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dockwarden.commands import options as opts
from dockwarden.commands import output
from dockwarden.errors import DockwardenError, InputError, UsageError
from dockwarden.model.common import TargetKind
from dockwarden.model.finding import Report, ReportError, ReportTarget
from dockwarden.sanitize import clean, excerpt


def options(p: argparse.ArgumentParser) -> None:
    opts.image_options(p, many=True)
    p.add_argument("--all", action="store_true", dest="all_images",
                   help="every image of the Engine (as `docker images` lists them), one "
                   "target each")
    thresholds(p)
    vulnerability_options(p, vex=True)
    g = p.add_argument_group("signature (DW311)")
    g.add_argument("--key", metavar="FILE",
                   help="PEM public key (cosign.pub: ECDSA, RSA or Ed25519) that must verify "
                   "the cosign signature of each image read from a registry")
    opts.engine_options(p, containers=False)
    opts.output_options(p)


def thresholds(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-files", type=int, default=100_000, metavar="N",
                   help="DW307 threshold: files in the final filesystem (default 100000)")
    p.add_argument("--max-size", type=opts.size, default=2 << 30, metavar="SIZE",
                   help="DW308 threshold, e.g. 2GiB (default)")


def vulnerability_options(p: argparse.ArgumentParser, *, vex: bool) -> None:
    g = p.add_argument_group("vulnerabilities (DW309, DW310)")
    g.add_argument("--db", metavar="PATH",
                   help="vulnerability database (default: DOCKWARDEN_DB, else "
                   "~/.cache/dockwarden/vulndb.sqlite)")
    if vex:
        g.add_argument("--vex", action="append", default=[], metavar="FILE",
                       help="OpenVEX document: not_affected/fixed statements suppress "
                       "matching findings (repeatable)")
    g.add_argument("--max-db-age", type=opts.days, default=opts.DEFAULT_MAX_DB_AGE, metavar="DAYS",
                   help=f"warn when the database is older (default {opts.DEFAULT_MAX_DB_AGE}; "
                   "0 never warns)")


def engine_factory(ns: argparse.Namespace) -> Any:
    """The Engine for one image: connected only when needed (not for --tar/--oci)."""
    return SharedEngine(ns, 16)  # connect's default pool size


def image_progress(ns: argparse.Namespace) -> Any:
    if ns.no_progress or getattr(ns, "quiet", False) or not sys.stderr.isatty():
        return None

    def show(name: str) -> None:
        print(f"\rreading layer {name[-24:]}", end="", file=sys.stderr, flush=True)

    return show


def image_requests(ns: argparse.Namespace) -> list[Any]:
    """What the user named: each REF, then --tar and --oci (none: a usage error, unless
    `image --all` names the Engine's images instead)."""
    from dockwarden.collect.image.open import ImageRequest

    refs = list(getattr(ns, "refs", None) or ([ns.ref] if getattr(ns, "ref", None) else []))
    username, password = opts.registry_login(ns)
    common = dict(tar=None, oci=None, platform=ns.platform, remote=ns.remote,
                  insecure=ns.insecure_registry, timeout=ns.timeout, username=username,
                  password=password)
    reqs = [ImageRequest(ref=r, **common) for r in refs]
    if ns.tar:
        reqs.append(ImageRequest(ref=None, **{**common, "tar": ns.tar}))
    if ns.oci:
        reqs.append(ImageRequest(ref=None, **{**common, "oci": ns.oci}))
    if not reqs and not getattr(ns, "all_images", False):
        every = " or --all" if hasattr(ns, "all_images") else ""
        raise UsageError(f"name an image: REF, --tar FILE, --oci PATH{every}")
    return reqs


def load_image_checks() -> None:
    """Import the image checks and their judge: done while the workers walk the first
    pieces of the image's layers, when there are workers (`collect_image`'s
    `meanwhile`), else after the walk."""
    from dockwarden.checks.judge import judge_image  # noqa: F401
    from dockwarden.checks.registry import Scope, load

    load(Scope.IMAGE)


# --- several images ---------------------------------------------------------------------
#
# Each image is read (and its vulnerabilities matched) in a thread of a small pool, while
# the others are; the checks are judged afterwards in the calling thread (the check
# registry is not made for threads, and judging is cheap). The walk of each image uses
# the other CPUs itself (forked workers, collect/image/offload.py), so the pool is small.


def workers() -> int:
    """Images read at once: one per CPU, at most 4 (each walk forks workers of its own,
    and each Engine export is a tar stream the daemon makes)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(4, cpus))


@dataclass(frozen=True, slots=True)
class Job:
    """One image to audit: one the user named (`request`), or an image of the Engine by
    its id (`image_id`: the images containers run, `image --all`), then named `name`.
    `containers`: the containers that run it, named in its findings."""

    name: str
    request: Any = None  # ImageRequest
    image_id: str | None = None
    containers: tuple[str, ...] = ()


@dataclass(slots=True)
class Collected:
    """What a worker gathered for one job: the snapshot (with its vulnerabilities), or
    why the image could not be read."""

    job: Job
    snap: Any = None
    error: str | None = None
    warnings: list[ReportError] = field(default_factory=list)
    unusable: DockwardenError | None = None


class _Cancelled(DockwardenError):
    """The audit ended before this image was read (an error elsewhere, Ctrl-C)."""


class SharedEngine:
    """One docker.APIClient for every image read (made on first use, under a lock, with
    a connection pool as large as the image pool)."""

    def __init__(self, ns: argparse.Namespace, pool_size: int, api: Any = None) -> None:
        self.ns, self.pool_size, self._api = ns, pool_size, api
        self._lock = threading.Lock()

    def __call__(self) -> Any:
        with self._lock:
            if self._api is None:
                from dockwarden.collect.connection import connect

                self._api = connect(opts.engine_from(self.ns),
                                    max_pool_size=max(10, self.pool_size), sdk=True).api
            return self._api


def wants_vulnerabilities(selection: Any) -> bool:
    return bool(selection.wants("DW309") or selection.wants("DW310"))


def gather(job: Job, ns: argparse.Namespace, api: Callable[[], Any], vulns: bool, *,
           progress: Callable[[str], None] | None = None,
           meanwhile: Callable[[], None] | None = None) -> Collected:
    """Read the image of `job` and match its packages against the database. Raises what
    reading raises (DockwardenError, or the SDK's errors for an Engine image)."""
    if job.image_id is not None:
        from dockwarden.collect.image.open import collect_engine_image

        snap = collect_engine_image(api(), job.image_id, job.name, progress=progress)
        snap = _not_signed_here(snap, "engine")
    else:
        from dockwarden.collect.image.open import default_analyzers, open_source
        from dockwarden.collect.image.walker import walk

        source = open_source(job.request, api)
        snap = walk(source, default_analyzers(), platform=job.request.platform,
                    progress=progress, offload=True, meanwhile=meanwhile)
        snap = _with_signature(snap, source, ns)
    out = Collected(job)
    if vulns:
        from dockwarden.vuln.db import DatabaseUnusable

        try:
            snap = _with_vulnerabilities(snap, ns, out.warnings)
        except DatabaseUnusable as exc:  # fail closed: an error, never a pass or a skip
            from dataclasses import replace

            from dockwarden.model.common import Unknown
            out.unusable = exc
            snap = replace(snap, vulnerabilities=Unknown(exc.message))
    out.snap = snap
    return out


_NO_REGISTRY = {
    "engine": "read from the Engine, not from a registry (audit it with --remote to "
              "look up its signature there)",
    "tar": "read from a docker save tarball: no registry holds its signature (audit the "
           "pushed image by name with --remote)",
    "oci": "read from an OCI layout: no registry holds its signature (audit the pushed "
           "image by name with --remote)",
}


def _not_signed_here(snap: Any, kind: str) -> Any:
    """An image not read from a registry: DW311 skipped, saying why."""
    from dataclasses import replace

    from dockwarden.model.common import Unknown

    why = _NO_REGISTRY.get(kind, "not read from a registry: no signature looked up")
    return replace(snap, signature=Unknown(why))


def _with_signature(snap: Any, source: Any, ns: argparse.Namespace) -> Any:
    """The snapshot with the cosign signature of a registry image (DW311), looked up
    only when DW311 is selected. A registry failure while looking leaves the image
    incomplete (exit 3) with the reason, DW311 skipped."""
    from dataclasses import replace

    from dockwarden.model.common import Unknown

    kind = getattr(source, "kind", "")
    if kind != "registry":
        return _not_signed_here(snap, "engine" if kind == "engine" else kind)
    if not getattr(ns, "signature_wanted", False):
        return replace(snap, signature=Unknown("DW311 not selected"))
    from dockwarden.collect.image import signature

    try:
        facts = signature.lookup(source, getattr(ns, "signature_key", None))
    except DockwardenError as exc:
        hint = f" ({exc.hint})" if exc.hint else ""
        why = f"signature lookup failed: {exc.message}{hint}"
        return replace(snap, signature=Unknown(why), complete=False,
                       skipped=(*snap.skipped, ("DW311", why)))
    return replace(snap, signature=facts)


def _gather_one(job: Job, ns: argparse.Namespace, api: Callable[[], Any], vulns: bool,
                cancel: threading.Event) -> Collected:
    """`gather`, with whatever keeps this one image from being read told as its error
    (the other images go on)."""
    def stop(_: str) -> None:  # called by the walk before each layer
        if cancel.is_set():
            raise _Cancelled("not read: the audit ended first")

    try:
        stop("")
        return gather(job, ns, api, vulns, progress=stop)
    except DockwardenError as exc:
        hint = f" ({exc.hint})" if exc.hint else ""
        return Collected(job, error=f"{exc.message}{hint}")
    except Exception as exc:
        return Collected(job, error=_unreadable(job, api, exc))


def _unreadable(job: Job, api: Callable[[], Any], exc: Exception) -> str:
    """One line for an image that could not be read: removed meanwhile, refused by the
    Engine, or a failure of ours."""
    import docker.errors

    if isinstance(exc, docker.errors.APIError):
        if job.image_id is not None:
            try:
                api().inspect_image(job.image_id)
            except docker.errors.NotFound:
                return "removed from the Engine before it could be read"
            except Exception:  # the first failure is the one to tell
                pass
        why = excerpt(exc.explanation or str(exc), 200)
        return f"the Engine could not export it: {why}"
    return f"could not be audited: {type(exc).__name__}: {excerpt(str(exc), 200)}"


class Batch:
    """Images being read in a pool of threads; `results` waits for them, in job order."""

    def __init__(self, jobs: Sequence[Job], ns: argparse.Namespace, api: Callable[[], Any],
                 vulns: bool, pool_size: int | None = None) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.jobs = list(jobs)
        self.cancel = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=pool_size or workers(),
                                        thread_name_prefix="dockwarden-image")
        self._futures = [self._pool.submit(_gather_one, job, ns, api, vulns, self.cancel)
                         for job in self.jobs]

    def results(self) -> list[Collected]:
        try:
            return [f.result() for f in self._futures]
        except BaseException:
            self.stop()
            raise
        finally:
            self._pool.shutdown(wait=False)

    def stop(self) -> None:
        """Nothing more is started; images being read stop at their next layer."""
        self.cancel.set()
        self._pool.shutdown(wait=False, cancel_futures=True)


def judged(got: Collected, ns: argparse.Namespace, selection: Any,
           statements: Sequence[Any], started: str) -> Report:
    """The report of one image: its checks judged (in the calling thread), VEX applied,
    the containers that run it named in each finding."""
    job = got.job
    if got.snap is None:
        used = _used_by(job.containers)
        return Report(started=started, finished=output.now(),
                      targets=(ReportTarget(TargetKind.IMAGE, job.name, False),),
                      findings=(), errors=(ReportError(job.name, f"{got.error}{used}"),))
    load_image_checks()
    from dockwarden.checks.image import ImageContext
    from dockwarden.checks.judge import judge_image

    snap, unusable = got.snap, got.unusable
    ctx = ImageContext(today=dt.datetime.now(dt.UTC).date(),
                       max_files=getattr(ns, "max_files", 100_000),
                       max_size=getattr(ns, "max_size", 2 << 30))
    results = judge_image(snap, ctx, selection)
    if statements:
        from dockwarden.vuln import vex

        findings, suppressed = vex.apply(results.findings, statements)
    else:
        findings, suppressed = list(results.findings), []
    if job.containers:
        from dataclasses import replace

        names = list(job.containers)
        findings = [replace(f, evidence={**f.evidence, "containers": names})
                    for f in findings]
    notes = [ReportError(snap.ref, f"{what}: {why}") for what, why in snap.skipped]
    skipped = tuple(results.skipped)
    if unusable is not None:
        skipped = tuple(k for k in skipped if k.check not in ("DW309", "DW310"))
        hint = f" ({unusable.hint})" if unusable.hint else ""
        notes.append(ReportError(snap.ref, f"DW309/DW310 not judged: {unusable.message}{hint}"))
    return Report(
        started=started, finished=output.now(),
        targets=(ReportTarget(TargetKind.IMAGE, snap.ref, snap.complete and unusable is None),),
        findings=tuple(findings), skipped=skipped,
        errors=tuple(notes + results.errors), passed=results.passed,
        ignored=tuple(suppressed), warnings=tuple(got.warnings),
    )


def _used_by(containers: Sequence[str], shown: int = 5) -> str:
    if not containers:
        return ""
    more = f" and {len(containers) - shown} more" if len(containers) > shown else ""
    return f" (used by {', '.join(containers[:shown])}{more})"


def merge(started: str, parts: Sequence[Report]) -> Report:
    """One report of several: targets, findings and entries in the order of `parts`; a
    warning told by several parts (a stale database) once."""
    warnings: dict[tuple[str, str, str | None], ReportError] = {}
    for part in parts:
        for w in part.warnings:
            warnings.setdefault((w.target, w.message, w.check), w)
    return Report(
        started=started, finished=output.now(),
        targets=tuple(t for p in parts for t in p.targets),
        findings=tuple(f for p in parts for f in p.findings),
        skipped=tuple(k for p in parts for k in p.skipped),
        errors=tuple(e for p in parts for e in p.errors),
        passed=sum(p.passed for p in parts),
        ignored=tuple(i for p in parts for i in p.ignored),
        warnings=tuple(warnings.values()),
    )


def engine_images(api: Any) -> list[Job]:
    """A job for every image of the Engine (`GET /images/json`: tagged images and
    dangling ones, not the intermediate layers of builds), named by its first tag in
    natural order, else its first digest, else its short id; ordered by name."""
    import docker.errors

    from dockwarden.report.text import natural_key
    try:
        listed = api.images()
    except docker.errors.APIError as exc:
        from dockwarden.errors import EngineUnreachable

        raise EngineUnreachable(f"image list failed: {excerpt(exc.explanation or str(exc), 200)}"
                                ) from None
    if not isinstance(listed, list):
        raise InputError("the Engine's answer to image list is malformed: not a list")
    jobs: dict[str, Job] = {}
    for row in listed:
        image_id = row.get("Id") if isinstance(row, dict) else None
        if not isinstance(image_id, str) or not ENGINE_IMAGE_ID.fullmatch(image_id):
            continue  # not an image this Engine can export by id: nothing to read
        jobs.setdefault(image_id, Job(name=image_name(row, image_id), image_id=image_id))
    return sorted(jobs.values(), key=lambda j: (natural_key(j.name), j.image_id or ""))


ENGINE_IMAGE_ID = re.compile(r"sha256:[0-9a-f]{64}")


def image_name(row: dict[str, Any], image_id: str) -> str:
    """How the report names an image of the Engine's list."""
    from dockwarden.report.text import natural_key

    def strings(key: str) -> list[str]:
        value = row.get(key)
        return [clean(v) for v in value if isinstance(v, str) and v and "<none>" not in v] \
            if isinstance(value, list) else []

    tags = sorted(strings("RepoTags"), key=natural_key)
    if tags:
        return tags[0]
    digests = sorted(strings("RepoDigests"), key=natural_key)
    return digests[0] if digests else image_id[:19]


def audit(ns: argparse.Namespace) -> Report:
    started = output.now()
    statements: list[Any] = []
    if ns.vex:
        from dockwarden.vuln import vex

        statements = vex.load(ns.vex)  # a bad VEX file stops here, before any work
    selection = output.selection(ns)
    vulns = wants_vulnerabilities(selection)
    requests = image_requests(ns)
    ns.signature_wanted = bool(selection.wants("DW311"))
    ns.signature_key = None
    if ns.key:  # a bad key file stops here, before any work
        from dockwarden.collect.image.signature import load_key

        ns.signature_key = load_key(ns.key)
    jobs = [Job(name=r.ref or r.tar or r.oci or "", request=r) for r in requests]
    if not getattr(ns, "all_images", False) and len(jobs) == 1:
        # One image: read in this thread, its errors are the command's (exit 2 or 3).
        got = gather(jobs[0], ns, engine_factory(ns), vulns, progress=image_progress(ns),
                     meanwhile=load_image_checks)
        return judged(got, ns, selection, statements, started)
    pool_size = workers()
    api = SharedEngine(ns, pool_size)
    if getattr(ns, "all_images", False):
        jobs += engine_images(api())
    batch = Batch(jobs, ns, api, vulns, pool_size)
    load_image_checks()  # meanwhile
    return merge(started, [judged(got, ns, selection, statements, started)
                           for got in batch.results()])


def _with_vulnerabilities(snap: Any, ns: argparse.Namespace,
                          warnings: list[ReportError]) -> Any:
    """The snapshot with its `vulnerabilities` filled in from the database, or with the
    reason they are unknown (no database: DW309/DW310 are skipped, saying how to get
    one). A stale database or versions that could not be parsed become warnings."""
    from dataclasses import replace

    from dockwarden.model.common import Unknown
    from dockwarden.vuln import default_path

    path = ns.db or default_path()
    if isinstance(snap.packages, Unknown):
        return replace(snap, vulnerabilities=snap.packages)
    from dockwarden.vuln.db import open_for_scan

    # Asked for (--db, DOCKWARDEN_DB) or present at the default path: it must be usable,
    # else DatabaseUnusable (the caller fails closed). Absent and not asked for: skipped.
    db = open_for_scan(path, asked=bool(ns.db or os.environ.get("DOCKWARDEN_DB")))
    if db is None:
        return replace(snap, vulnerabilities=Unknown(
            f"no vulnerability database at {path}: run `dockwarden db update` (online) or "
            "`dockwarden db import FILE|DIR` (offline), or name one with --db / "
            "DOCKWARDEN_DB"))
    try:
        oldest = db.oldest_import()
        if oldest is None:
            warnings.append(ReportError(str(path), "the vulnerability database holds no "
                                        "source: run `dockwarden db update`"))
        elif ns.max_db_age:
            age = dt.datetime.now(dt.UTC) - (oldest if oldest.tzinfo else
                                             oldest.replace(tzinfo=dt.UTC))
            if age > dt.timedelta(days=ns.max_db_age):
                warnings.append(ReportError(str(path), (
                    f"the vulnerability database is {age.days} days old (imported "
                    f"{oldest:%Y-%m-%d}, older than --max-db-age {ns.max_db_age}): recent "
                    "advisories are missing; run `dockwarden db update`")))
        from dockwarden.vuln.match import Matcher  # univers: only with a database

        os_release = None if isinstance(snap.os_release, Unknown) else snap.os_release
        result = Matcher(db).match(snap.packages, os_release)
    finally:
        db.close()
    warnings.extend(ReportError(snap.ref, note) for note in result.notes)
    return replace(snap, vulnerabilities=result.matches, vulnerability_gaps=result.gaps)


def run(ns: argparse.Namespace) -> int:
    return output.finish(audit(ns), ns)
