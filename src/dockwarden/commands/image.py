"""`dockwarden image`: one image, from the Engine, a registry, a `docker save` tarball or an
OCI layout."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from typing import Any

from dockwarden.commands import engine, output
from dockwarden.commands import options as opts
from dockwarden.errors import DockwardenError, UsageError
from dockwarden.model.common import TargetKind
from dockwarden.model.finding import Report, ReportError, ReportTarget


def options(p: argparse.ArgumentParser) -> None:
    opts.image_options(p, many=False)
    p.add_argument("--max-files", type=int, default=100_000, metavar="N",
                   help="DW307 threshold: files in the final filesystem (default 100000)")
    p.add_argument("--max-size", type=opts.size, default=2 << 30, metavar="SIZE",
                   help="DW308 threshold, e.g. 2GiB (default)")
    g = p.add_argument_group("vulnerabilities (DW309, DW310)")
    g.add_argument("--db", metavar="PATH",
                   help="vulnerability database (default: DOCKWARDEN_DB, else "
                   "~/.cache/dockwarden/vulndb.sqlite)")
    g.add_argument("--vex", action="append", default=[], metavar="FILE",
                   help="OpenVEX document: not_affected/fixed statements suppress matching "
                   "findings (repeatable)")
    g.add_argument("--max-db-age", type=opts.days, default=opts.DEFAULT_MAX_DB_AGE, metavar="DAYS",
                   help=f"warn when the database is older (default {opts.DEFAULT_MAX_DB_AGE}; "
                   "0 never warns)")
    engine.options(p)


def engine_factory(ns: argparse.Namespace) -> Any:
    def factory() -> Any:  # imported only when an Engine is needed (not for --tar/--oci)
        from dockwarden.collect.connection import EngineOptions, connect

        opts = EngineOptions(host=ns.host, context=ns.context, tls=ns.tls,
                             tlsverify=ns.tlsverify, tlscacert=ns.tlscacert,
                             tlscert=ns.tlscert, tlskey=ns.tlskey, timeout=ns.timeout)
        return connect(opts, sdk=True).api

    return factory


def image_progress(ns: argparse.Namespace) -> Any:
    if ns.no_progress or getattr(ns, "quiet", False) or not sys.stderr.isatty():
        return None

    def show(name: str) -> None:
        print(f"\rreading layer {name[-24:]}", end="", file=sys.stderr, flush=True)

    return show


def image_requests(ns: argparse.Namespace) -> list[Any]:
    from dockwarden.collect.image.open import ImageRequest

    refs = list(getattr(ns, "refs", None) or ([ns.ref] if getattr(ns, "ref", None) else []))
    common = dict(tar=None, oci=None, platform=ns.platform, remote=ns.remote,
                  insecure=ns.insecure_registry, timeout=ns.timeout)
    reqs = [ImageRequest(ref=r, **common) for r in refs]
    if ns.tar:
        reqs.append(ImageRequest(ref=None, **{**common, "tar": ns.tar}))
    if ns.oci:
        reqs.append(ImageRequest(ref=None, **{**common, "oci": ns.oci}))
    if not reqs:
        raise UsageError("name an image: REF, --tar FILE or --oci PATH")
    if len(reqs) > 1 and ns.command == "image":
        raise UsageError("`image` audits one image: name REF, --tar or --oci, not several")
    return reqs


def load_image_checks() -> None:
    """Import the image checks and their judge: done while the workers walk the first
    pieces of the image's layers, when there are workers (`collect_image`'s
    `meanwhile`), else after the walk."""
    from dockwarden.checks.judge import judge_image  # noqa: F401
    from dockwarden.checks.registry import Scope, load

    load(Scope.IMAGE)


def audit(ns: argparse.Namespace) -> Report:
    from dockwarden.collect.image.open import collect_image

    started = output.now()
    req = image_requests(ns)[0]
    statements: list[Any] = []
    if ns.vex:
        from dockwarden.vuln import vex

        statements = vex.load(ns.vex)  # a bad VEX file stops here, before any work
    snap = collect_image(req, engine_factory(ns), progress=image_progress(ns),
                         meanwhile=load_image_checks)
    load_image_checks()
    from dockwarden.checks.image import ImageContext
    from dockwarden.checks.judge import judge_image

    selection = output.selection(ns)
    warnings: list[ReportError] = []
    unusable: DockwardenError | None = None
    if selection.wants("DW309") or selection.wants("DW310"):
        from dockwarden.vuln.db import DatabaseUnusable

        try:
            snap = _with_vulnerabilities(snap, ns, warnings)
        except DatabaseUnusable as exc:  # fail closed: an error, never a pass or a skip
            from dataclasses import replace

            from dockwarden.model.common import Unknown
            unusable = exc
            snap = replace(snap, vulnerabilities=Unknown(exc.message))
    ctx = ImageContext(today=dt.datetime.now(dt.UTC).date(), max_files=ns.max_files,
                       max_size=ns.max_size)
    results = judge_image(snap, ctx, selection)
    findings, suppressed = (vex.apply(results.findings, statements) if statements
                            else (list(results.findings), []))
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
        ignored=tuple(suppressed), warnings=tuple(warnings),
    )


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
