"""`db update`, `db import` and `db status` through the command line, against a local
HTTP server on 127.0.0.1 (http.server in a thread) that honours ETag / If-None-Match,
Last-Modified / If-Modified-Since and Range / If-Range, and can cut a body short. No
network beyond 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from dockwarden.vuln import status as db_status

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / ".." / "shared" / "data"
FIXTURES = Path(__file__).parent / "data" / "vuln"


# --- the local server -----------------------------------------------------------------

@dataclass
class Served:
    body: bytes
    etag: str = ""
    last_modified: str = ""
    cut_after: int | None = None  # send the full Content-Length, then only this many bytes
    status: int = 200
    location: str = ""  # for a redirect


@dataclass
class Site:
    files: dict[str, Served] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    url: str = ""

    def put(self, path: str, body: bytes, etag: str | None = None, **kw: Any) -> str:
        if etag is None:
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        self.files[path] = Served(body, etag, **kw)
        return self.url + path

    def last(self, path: str) -> dict[str, str]:
        return next(h for p, h in reversed(self.requests) if p == path)


class _Handler(BaseHTTPRequestHandler):
    site: Site

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        site = self.site
        headers = {k.lower(): v for k, v in self.headers.items()}
        site.requests.append((self.path, headers))
        served = site.files.get(self.path)
        if served is None or served.status != 200:
            self.send_response(served.status if served else 404)
            if served is not None and served.location:
                self.send_header("Location", served.location)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        validators = {v for v in (served.etag, served.last_modified) if v}
        if (served.etag and headers.get("if-none-match") == served.etag) or (
                served.last_modified and
                headers.get("if-modified-since") == served.last_modified):
            self.send_response(304)
            self.end_headers()
            return
        body, start = served.body, 0
        wanted = headers.get("range", "")
        if wanted.startswith("bytes=") and wanted.endswith("-") and (
                "if-range" not in headers or headers["if-range"] in validators):
            start = int(wanted[6:-1])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        if served.etag:
            self.send_header("ETag", served.etag)
        if served.last_modified:
            self.send_header("Last-Modified", served.last_modified)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        chunk = body[start:]
        if served.cut_after is not None:
            self.wfile.write(chunk[:served.cut_after])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(chunk)


@pytest.fixture
def site() -> Iterator[Site]:
    state = Site()
    handler = type("Handler", (_Handler,), {"site": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


# --- data -------------------------------------------------------------------------------

def osv_zip(n: int, ecosystem: str = "npm", version: str = "1.0.1",
            extra: dict[str, bytes] | None = None) -> bytes:
    """n OSV documents, each with enough text that the archive is a few hundred KiB."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for i in range(n):
            doc = {"id": f"GHSA-test-{i:04d}", "modified": "2024-01-01T00:00:00Z",
                   "aliases": [f"CVE-2024-{10000 + i}"], "summary": f"advisory {i}",
                   "details": f"detail {i} " * 40,
                   "affected": [{"package": {"ecosystem": ecosystem, "name": f"pkg-{i % 97}"},
                                 "ranges": [{"type": "SEMVER", "events": [
                                     {"introduced": "0"}, {"fixed": version}]}]}]}
            zf.writestr(f"GHSA-test-{i:04d}.json", json.dumps(doc))
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return buf.getvalue()


def dockwarden(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "DOCKWARDEN_DB": str(db),
           "NO_COLOR": "1"}
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        env.pop(var, None)
    return subprocess.run([sys.executable, "-m", "dockwarden", "db", *args],
                          capture_output=True, text=True, env=env, timeout=120)


def status(db: Path) -> dict[str, Any]:
    """What `db status --format json` prints (read in-process: the CLI's own output is
    checked in test_import_local_files_and_status)."""
    return db_status.status(db)


def sources(db: Path) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in status(db)["sources"]}


def advisory_ids(db: Path, source: str) -> set[str]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {r[0] for r in con.execute("SELECT id FROM advisory WHERE source=?", (source,))}
    finally:
        con.close()


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("dockwarden: error:")]
    assert len(errors) == 1, stderr
    return errors[0]


# --- first download, 304, change ----------------------------------------------------------

def test_first_download_then_304_then_change(site: Site, tmp_path: Path) -> None:
    db = tmp_path / "vuln.sqlite"
    v1 = osv_zip(120)
    url = site.put("/npm/all.zip", v1)
    run = dockwarden("update", "--source", url, "--no-progress", db=db)
    assert run.returncode == 0, run.stderr
    assert "osv-npm" in run.stdout and "120 advisories" in run.stdout
    src = sources(db)["osv-npm"]
    assert (src["origin"], src["advisories"], src["size"]) == (url, 120, len(v1))
    assert src["sha256"] == hashlib.sha256(v1).hexdigest()
    assert src["etag"] == site.files["/npm/all.zip"].etag
    first_import = src["imported"]

    run = dockwarden("update", "--source", url, db=db)
    assert run.returncode == 0, run.stderr
    assert site.last("/npm/all.zip")["if-none-match"] == src["etag"]
    assert "not modified" in run.stdout
    again = sources(db)["osv-npm"]
    assert again["advisories"] == 120 and again["sha256"] == src["sha256"]
    assert again["imported"] >= first_import  # the check time is recorded

    site.put("/npm/all.zip", osv_zip(130))
    run = dockwarden("update", "--source", url, db=db)
    assert run.returncode == 0, run.stderr
    assert sources(db)["osv-npm"]["advisories"] == 130
    assert not list((tmp_path / ".vuln.sqlite.downloads").glob("*.download"))


def test_last_modified_without_etag(site: Site, tmp_path: Path) -> None:
    db = tmp_path / "vuln.sqlite"
    stamp = "Wed, 21 Oct 2026 07:28:00 GMT"
    body = (FIXTURES / "alpine-secdb-v3.19-main.json").read_bytes()
    url = site.put("/v3.19/main.json", body, etag="", last_modified=stamp)
    assert dockwarden("update", "--source", url, db=db).returncode == 0
    assert sources(db)["alpine-secdb-3.19-main"]["last_modified"] == stamp
    run = dockwarden("update", "--source", url, db=db)
    assert run.returncode == 0 and "not modified" in run.stdout
    assert site.last("/v3.19/main.json")["if-modified-since"] == stamp


def test_several_sources_and_json_output(site: Site, tmp_path: Path) -> None:
    db = tmp_path / "vuln.sqlite"
    urls = [site.put("/npm/all.zip", osv_zip(10)),
            site.put("/tracker/data/json", (FIXTURES / "debian-tracker.json").read_bytes()),
            site.put("/v3.19/main.json",
                     (FIXTURES / "alpine-secdb-v3.19-main.json").read_bytes())]
    listing = tmp_path / "sources.txt"
    listing.write_text(f"# local mirror\n{urls[0]}\n{urls[1]} tracker-mirror\n")
    run = dockwarden("update", "--sources", str(listing), "--source", urls[2],
                     "--format", "json", db=db)
    assert run.returncode == 0, run.stderr
    got = {o["source"]: o for o in json.loads(run.stdout)["sources"]}
    assert set(got) == {"osv-npm", "tracker-mirror", "alpine-secdb-3.19-main"}
    assert {o["state"] for o in got.values()} == {"updated"}
    assert got["tracker-mirror"]["advisories"] == 8
    assert "CVE-2023-45853" in advisory_ids(db, "tracker-mirror")


@pytest.mark.skipif(not (SHARED / "osv-pypi-pypa-advisory-database.zip").is_file(),
                    reason="real PyPA OSV data not found in ../shared/data")
def test_update_real_pypa_zip(site: Site, tmp_path: Path) -> None:
    db = tmp_path / "vuln.sqlite"
    body = (SHARED / "osv-pypi-pypa-advisory-database.zip").read_bytes()
    url = site.put("/PyPI/all.zip", body)
    run = dockwarden("update", "--source", url, db=db)
    assert run.returncode == 0, run.stderr
    assert sources(db)["osv-PyPI"]["advisories"] == 2661


# --- interrupted, resumed ------------------------------------------------------------------

def test_interrupted_download_keeps_old_db_then_resumes(site: Site, tmp_path: Path) -> None:
    db = tmp_path / "vuln.sqlite"
    url = site.put("/npm/all.zip", osv_zip(50))
    assert dockwarden("update", "--source", url, db=db).returncode == 0
    before = db.read_bytes()

    v2 = osv_zip(400, version="2.0.0")
    site.put("/npm/all.zip", v2, cut_after=len(v2) // 3)
    run = dockwarden("update", "--source", url, db=db)
    assert run.returncode == 3
    line = one_error_line(run.stderr)
    assert "connection closed before the whole file arrived" in line
    assert "partial download is kept" in line
    assert db.read_bytes() == before  # byte for byte the old database
    parts = list((tmp_path / ".vuln.sqlite.downloads").glob("*.part"))
    assert [p.stat().st_size for p in parts] == [len(v2) // 3]
    assert not list(tmp_path.glob(".vuln.sqlite.*.tmp"))  # no writer left behind

    site.files["/npm/all.zip"].cut_after = None
    run = dockwarden("update", "--source", url, "--format", "json", db=db)
    assert run.returncode == 0, run.stderr
    [outcome] = json.loads(run.stdout)["sources"]
    assert outcome["resumed_from"] == len(v2) // 3
    assert outcome["downloaded"] == len(v2) - len(v2) // 3
    asked = site.last("/npm/all.zip")
    assert asked["range"] == f"bytes={len(v2) // 3}-"
    assert asked["if-range"] == site.files["/npm/all.zip"].etag
    src = sources(db)["osv-npm"]
    assert src["sha256"] == hashlib.sha256(v2).hexdigest() and src["advisories"] == 400
    assert not list((tmp_path / ".vuln.sqlite.downloads").glob("*.part*"))


def test_resume_refetches_whole_file_when_it_changed(site: Site, tmp_path: Path) -> None:
    db = tmp_path / "vuln.sqlite"
    v1 = osv_zip(300)
    url = site.put("/npm/all.zip", v1, cut_after=1000)
    assert dockwarden("update", "--source", url, db=db).returncode == 3
    assert not db.exists()  # nothing was ever written
    v2 = osv_zip(310)
    site.put("/npm/all.zip", v2)  # a new ETag: If-Range fails, the server sends it whole
    run = dockwarden("update", "--source", url, "--format", "json", db=db)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["sources"][0]["resumed_from"] == 0
    assert site.last("/npm/all.zip")["if-range"] != site.files["/npm/all.zip"].etag
    assert sources(db)["osv-npm"]["sha256"] == hashlib.sha256(v2).hexdigest()


# --- refused data and unreachable sources -------------------------------------------------

@pytest.mark.parametrize("body, message", [
    (b"PK\x03\x04" + b"\x00" * 200, "not a zip archive"),
    (b"{this is not json", "not valid JSON"),
    (b"<html><body>captive portal</body></html>", "not a zip archive or JSON"),
], ids=["zip-header-only", "garbage-json", "html"])
def test_refused_data_keeps_old_db(site: Site, tmp_path: Path, body: bytes,
                                   message: str) -> None:
    db = tmp_path / "vuln.sqlite"
    url = site.put("/npm/all.zip", osv_zip(20))
    assert dockwarden("update", "--source", url, db=db).returncode == 0
    before = db.read_bytes()
    site.put("/npm/all.zip", body)
    run = dockwarden("update", "--source", url, db=db)
    assert run.returncode == 2
    line = one_error_line(run.stderr)
    assert message in line and url in line
    assert db.read_bytes() == before
    assert not list((tmp_path / ".vuln.sqlite.downloads").glob("*.download"))


def test_corrupt_zip_member_rejected(site: Site, tmp_path: Path) -> None:
    db = tmp_path / "vuln.sqlite"
    data = bytearray(osv_zip(30))
    data[len(data) // 2: len(data) // 2 + 64] = b"\xde\xad" * 32  # inside a stored member
    url = site.put("/npm/all.zip", bytes(data))
    run = dockwarden("update", "--source", url, db=db)
    assert run.returncode == 2
    assert "damaged archive" in one_error_line(run.stderr)
    assert not db.exists()


def test_zip_bomb_rejected(site: Site, tmp_path: Path) -> None:
    db = tmp_path / "vuln.sqlite"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf, \
            zf.open("GHSA-bomb.json", "w", force_zip64=True) as fh:
        for _ in range(24):
            fh.write(b"[" * (1 << 20))
    url = site.put("/npm/all.zip", buf.getvalue())
    run = dockwarden("update", "--source", url, db=db)
    assert run.returncode == 2
    assert "decompression bomb" in one_error_line(run.stderr)
    assert not db.exists()


def test_garbage_members_skipped_and_reported(site: Site, tmp_path: Path) -> None:
    db = tmp_path / "vuln.sqlite"
    url = site.put("/npm/all.zip", osv_zip(5, extra={"bad.json": b"\x00garbage",
                                                     "other.json": b'{"x": 1}'}))
    run = dockwarden("update", "--source", url, db=db)
    assert run.returncode == 0, run.stderr
    assert "skipped 2 (1 not JSON, 1 not an OSV document)" in run.stdout
    assert sources(db)["osv-npm"]["advisories"] == 5


def test_only_garbage_is_refused(site: Site, tmp_path: Path) -> None:
    db = tmp_path / "vuln.sqlite"
    url = site.put("/npm/all.zip", osv_zip(0, extra={"bad.json": b"nope"}))
    run = dockwarden("update", "--source", url, db=db)
    assert run.returncode == 2
    assert "OSV data, but no advisory names an ecosystem" in one_error_line(run.stderr) \
        or "no advisories" in run.stderr


def test_one_bad_source_others_written(site: Site, tmp_path: Path) -> None:
    db = tmp_path / "vuln.sqlite"
    good = site.put("/npm/all.zip", osv_zip(10))
    bad = site.put("/PyPI/all.zip", osv_zip(10, ecosystem="PyPI"))
    assert dockwarden("update", "--source", good, "--source", bad, db=db).returncode == 0
    site.put("/npm/all.zip", osv_zip(15))
    site.put("/PyPI/all.zip", b"PK\x03\x04broken")
    run = dockwarden("update", "--source", good, "--source", bad, db=db)
    assert run.returncode == 2
    assert "FAILED" in run.stdout and "not a zip archive" in one_error_line(run.stderr)
    got = sources(db)
    assert got["osv-npm"]["advisories"] == 15  # written
    assert got["osv-PyPI"]["advisories"] == 10  # its previous data kept


def test_http_errors_are_unreachable(site: Site, tmp_path: Path) -> None:
    db = tmp_path / "vuln.sqlite"
    run = dockwarden("update", "--source", site.url + "/missing.zip", db=db)
    assert run.returncode == 3
    assert "HTTP 404" in one_error_line(run.stderr)
    assert not db.exists()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    run = dockwarden("update", "--source", f"http://127.0.0.1:{port}/x.zip",
                     "--timeout", "5", db=db)
    assert run.returncode == 3
    one_error_line(run.stderr)


def test_plain_http_refused_off_loopback(site: Site, tmp_path: Path) -> None:
    run = dockwarden("update", "--source", "http://example.com/all.zip",
                     db=tmp_path / "v.sqlite")
    assert run.returncode == 2
    assert "plain HTTP refused" in one_error_line(run.stderr)
    # a redirect off loopback to plain HTTP is refused before any request is sent
    site.files["/npm/all.zip"] = Served(b"", status=302,
                                        location="http://example.com/npm/all.zip")
    run = dockwarden("update", "--source", site.url + "/npm/all.zip", db=tmp_path / "v.sqlite")
    assert run.returncode == 3
    assert "redirected to http://example.com/npm/all.zip: refused" in \
        one_error_line(run.stderr)
    # a redirect on loopback is followed
    site.put("/mirror/all.zip", osv_zip(3))
    site.files["/npm/all.zip"] = Served(b"", status=302, location=site.url + "/mirror/all.zip")
    run = dockwarden("update", "--source", site.url + "/npm/all.zip", db=tmp_path / "v.sqlite")
    assert run.returncode == 0, run.stderr


# --- db import and db status ---------------------------------------------------------------

def test_import_local_files_and_status(tmp_path: Path) -> None:
    db = tmp_path / "vuln.sqlite"
    run = dockwarden("import", str(FIXTURES / "debian-tracker.json"), str(FIXTURES / "osv"),
                     str(FIXTURES / "alpine-secdb-v3.19-main.json"), db=db)
    assert run.returncode == 0, run.stderr
    got = sources(db)
    assert {n: s["advisories"] for n, s in got.items()} == {
        "debian-tracker": 8, "osv-Alpine": 9, "alpine-secdb-3.19-main": 11}
    assert got["debian-tracker"]["origin"] == str((FIXTURES / "debian-tracker.json").resolve())
    text = dockwarden("status", db=db)
    assert text.returncode == 0
    assert text.stdout.startswith(f"database  {db}\n")
    assert "28 advisories" in text.stdout and "debian-tracker" in text.stdout
    run = dockwarden("status", "--format", "json", db=db)
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["size"] == db.stat().st_size and data["advisories"] == 28
    assert data["path"] == str(db)
    assert {s["name"] for s in data["sources"]} == set(got)


@pytest.mark.skipif(not (SHARED / "alpine-secdb").is_dir(),
                    reason="real Alpine secdb data not found in ../shared/data")
def test_import_real_secdb_folder(tmp_path: Path) -> None:
    db = tmp_path / "vuln.sqlite"
    run = dockwarden("import", str(SHARED / "alpine-secdb"), "--db", str(db),
                     db=tmp_path / "elsewhere.sqlite")
    assert run.returncode == 0, run.stderr
    assert {n: s["advisories"] for n, s in sources(db).items()} == {
        "alpine-secdb-3.10-community": 692, "alpine-secdb-3.10-main": 1110,
        "alpine-secdb-3.11-community": 829, "alpine-secdb-3.11-main": 1123}
    assert not (tmp_path / "elsewhere.sqlite").exists()  # --db wins over DOCKWARDEN_DB


def test_import_refuses_garbage_and_missing(tmp_path: Path) -> None:
    db = tmp_path / "vuln.sqlite"
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b'{"not": "a format"}')
    run = dockwarden("import", str(garbage), db=db)
    assert run.returncode == 2
    assert "not a vulnerability data format" in one_error_line(run.stderr)
    run = dockwarden("import", str(tmp_path / "absent.zip"), db=db)
    assert run.returncode == 2
    assert "no such file" in one_error_line(run.stderr)
    assert not db.exists()


def test_import_name_override_and_usage_errors(tmp_path: Path) -> None:
    db = tmp_path / "vuln.sqlite"
    run = dockwarden("import", str(FIXTURES / "osv" / "GO-2022-0969.json"),
                     "--name", "go-extra", db=db)
    assert run.returncode == 0, run.stderr
    assert list(sources(db)) == ["go-extra"]
    run = dockwarden("import", str(FIXTURES / "osv"), str(FIXTURES / "debian-tracker.json"),
                     "--name", "x", db=db)
    assert run.returncode == 2 and "--name names one source" in one_error_line(run.stderr)
    run = dockwarden(db=db)
    assert run.returncode == 2 and "name a db command" in one_error_line(run.stderr)


def test_status_without_database(tmp_path: Path) -> None:
    run = dockwarden("status", db=tmp_path / "none.sqlite")
    assert run.returncode == 2
    assert "no vulnerability database" in one_error_line(run.stderr)
    assert "hint: run `dockwarden db update`" in run.stderr
