"""`dockwarden db update|import|status|reset`: the local vulnerability database.

`update` and `import` run with SIGTERM handled as SIGINT (KeyboardInterrupt): the writer
aborts, its temporary file is removed and the database keeps its previous data, as
after Ctrl-C; the previous handler is restored afterwards."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import Iterator
from types import FrameType

from dockwarden.commands.options import timeout_seconds
from dockwarden.errors import UsageError
from dockwarden.safeio import write_output


def _sources_epilog() -> str:
    """The default sources and the offline route, for `db update --help`."""
    from dockwarden.vuln.update import default_sources

    lines = ["default sources:"]
    lines += [f"  {s.name:<28} {s.url}" for s in default_sources()]
    lines += ["", "offline (air-gapped): download the same files on a connected machine, copy "
              "them over and", "run `dockwarden db import FILE|DIR...` (each file is "
              "recognised by its content), or", "serve them from a local mirror and name it "
              "with --source URL or --sources FILE."]
    return "\n".join(lines)


def options(p: argparse.ArgumentParser) -> None:
    """`db update|import|status|reset`: the local vulnerability database."""
    db_help = "the database file (default: $DOCKWARDEN_DB, else " \
        "~/.cache/dockwarden/vulndb.sqlite)"
    p.add_argument("--db", metavar="PATH", help=db_help)
    dbsub = p.add_subparsers(dest="db_command", metavar="update|import|status|reset")

    def common(q: argparse.ArgumentParser, writes: bool) -> None:
        q.add_argument("--db", metavar="PATH", default=argparse.SUPPRESS, help=db_help)
        q.add_argument("--format", choices=("text", "json"), default="text",
                       help="text (default) or JSON on stdout")
        if writes:
            q.add_argument("-q", "--quiet", action="store_true", help="print errors only")
            q.add_argument("--no-progress", action="store_true", help="no progress on stderr")

    q = dbsub.add_parser("update", help="download the advisory sources (HTTPS) and import "
                         "them; only what changed is fetched", epilog=_sources_epilog(),
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    q.add_argument("--source", action="append", default=[], metavar="URL",
                   help="fetch this URL instead of the default sources (repeatable)")
    q.add_argument("--sources", metavar="FILE",
                   help="fetch the sources listed in FILE (one `URL [NAME]` a line)")
    q.add_argument("--timeout", type=timeout_seconds, default=60.0, metavar="SECONDS",
                   help="time for each source's answer (default 60); a download gets one "
                   "more second per 64 KiB it receives")
    common(q, writes=True)
    q = dbsub.add_parser("import", help="import local files or folders (air-gapped): OSV "
                         "all.zip or JSON, Debian tracker JSON, Alpine secdb JSON")
    q.add_argument("paths", nargs="+", metavar="FILE|DIR",
                   help="OSV all.zip, OSV JSON files or folders, the Debian tracker JSON, "
                   "Alpine secdb JSON")
    q.add_argument("--name", default="", metavar="NAME",
                   help="store the (one) source under this name instead of the one detected")
    q.add_argument("--replace", action="store_true",
                   help="start a new database from these files only: the current one is "
                   "not read (the way out of a damaged or unknown database)")
    common(q, writes=True)
    q = dbsub.add_parser("status", help="each source's age and record counts, and the "
                         "file's size and path (the file is checked)")
    common(q, writes=False)
    q = dbsub.add_parser("reset", help="remove the database, its journal and kept "
                         "partial downloads (then `db update` or `db import` starts afresh)")
    common(q, writes=False)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt while the block runs (the writer cleans up as
    after Ctrl-C); the previous handler is restored after."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(ns: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from dockwarden.sanitize import clean
    from dockwarden.vuln import default_path
    from dockwarden.vuln import status as db_status
    from dockwarden.vuln import update as db_update

    if not ns.db_command:
        raise UsageError("name a db command: update, import, status or reset")
    path = Path(ns.db or default_path())
    if ns.db_command == "status":
        data = db_status.status(path)
        write_output(None, json.dumps(data, indent=2) + "\n" if ns.format == "json"
                     else db_status.render_status(data))
        return 0
    if ns.db_command == "reset":
        removed = db_update.reset(path)
        if ns.format == "json":
            write_output(None, json.dumps({"path": str(path),
                                           "removed": [str(p) for p in removed]}, indent=2)
                         + "\n")
        else:
            write_output(None, f"removed {clean(str(path))}\n" if removed
                         else f"nothing to remove at {clean(str(path))}\n")
        return 0
    bar = db_update.RichProgress() if not (ns.no_progress or ns.quiet) \
        and sys.stderr.isatty() else None
    try:
        with _sigterm_as_interrupt():
            if ns.db_command == "update":
                specs = [db_update.SourceSpec(url) for url in ns.source]
                if ns.sources:
                    specs += db_update.read_sources_file(Path(ns.sources))
                outcomes = db_update.update(path, specs or db_update.default_sources(),
                                            timeout=ns.timeout, progress=bar)
            else:
                outcomes = db_update.import_paths(path, [Path(p) for p in ns.paths],
                                                  name=ns.name, progress=bar,
                                                  replace=ns.replace)
    finally:
        if bar is not None:
            bar.stop()
    if ns.format == "json":
        write_output(None, json.dumps({"path": str(path),
                                       "sources": [o.as_dict() for o in outcomes]},
                                      indent=2) + "\n")
    elif not ns.quiet:
        write_output(None, db_status.render_outcomes(outcomes, path))
    for o in outcomes:
        if o.state == "failed":
            print(f"dockwarden: error: {clean(o.message)}", file=sys.stderr)
    code = db_update.exit_code(outcomes)
    if code == 3:
        print("hint: the database keeps its previous data for the sources that failed; "
              "run `dockwarden db update` again (partial downloads resume)", file=sys.stderr)
    return code
