"""Hostile sources for `db update` (issues 11 and 12): credentials in source URLs never
stored or printed, a `--sources` that is /dev/zero or a FIFO, servers that trickle
bytes past `--timeout`, bad `--timeout` values, a feed with a lone surrogate among good
feeds, and kills during an update. Every server is on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockwarden.vuln.db import ro_uri
from hostile.conftest import run_dockwarden
from test_vuln_update import Site, osv_zip  # the fake server of those tests
from test_vuln_update import site as site


def _env(db: Path) -> dict[str, str]:
    env = {"DOCKWARDEN_DB": str(db)}
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(var, None)
    return env


def _errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("dockwarden: error:")]


def _origins(db: Path) -> list[str]:
    con = sqlite3.connect(ro_uri(db), uri=True)
    try:
        return [r[0] for r in con.execute("SELECT origin FROM source")]
    finally:
        con.close()


# --- credentials ----------------------------------------------------------------------------

def test_credentials_in_source_url_never_stored_or_printed(site: Site, tmp_path: Path) -> None:
    db = tmp_path / "vulndb.sqlite"
    site.put("/npm/all.zip", osv_zip(5))
    secret = "s3cr3t-pass"
    url = site.url.replace("http://", f"http://mirror-user:{secret}@") + "/npm/all.zip"
    run = run_dockwarden(["db", "update", "--source", url, "--no-progress"], env=_env(db))
    assert run.code == 0, run.err
    assert site.last("/npm/all.zip")["authorization"].startswith("Basic ")  # used
    assert secret not in run.out + run.err
    assert _origins(db) == [site.url + "/npm/all.zip"]
    assert secret.encode() not in db.read_bytes()
    for args in (["status"], ["status", "--format", "json"]):
        shown = run_dockwarden(["db", *args], env=_env(db))
        assert shown.code == 0 and secret not in shown.out + shown.err
    # a 304 finds the stored source by the URL without credentials
    run = run_dockwarden(["db", "update", "--source", url], env=_env(db))
    assert run.code == 0 and "not modified" in run.out
    # errors name the URL without them too
    missing = url.replace("/npm/all.zip", "/gone.zip")
    run = run_dockwarden(["db", "update", "--source", missing, "--format", "json"],
                         env=_env(db))
    assert run.code == 3
    assert secret not in run.out + run.err and "HTTP 404" in run.err
    # and in a sources file
    listing = tmp_path / "sources.txt"
    listing.write_text(f"{missing}\n")
    run = run_dockwarden(["db", "update", "--sources", str(listing)], env=_env(db))
    assert run.code == 3 and secret not in run.out + run.err
    assert not any(secret.encode() in p.read_bytes()
                   for p in (tmp_path / ".vulndb.sqlite.downloads").iterdir())


# --- the sources file ----------------------------------------------------------------------

def test_sources_file_dev_zero_refused(tmp_path: Path) -> None:
    run = run_dockwarden(["db", "update", "--sources", "/dev/zero"], timeout=30,
                         memory_mib=512, env=_env(tmp_path / "v.sqlite"))
    assert run.code == 2
    [line] = _errors(run.err)
    assert "not a regular file" in line


def test_sources_file_fifo_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "sources.fifo"
    os.mkfifo(fifo)
    run = run_dockwarden(["db", "update", "--sources", str(fifo)], timeout=30,
                         env=_env(tmp_path / "v.sqlite"))
    assert run.code == 2
    [line] = _errors(run.err)
    assert "FIFO" in line


def test_sources_file_too_large(tmp_path: Path) -> None:
    big = tmp_path / "sources.txt"
    big.write_text("# comment\n" * 200_000)
    run = run_dockwarden(["db", "update", "--sources", str(big)],
                         env=_env(tmp_path / "v.sqlite"))
    [line] = _errors(run.err)
    assert run.code == 2 and ("too large" in line or "larger than" in line)


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf", "abc"])
def test_bad_timeout_is_a_usage_error(tmp_path: Path, value: str) -> None:
    run = run_dockwarden(["db", "update", "--timeout", value, "--source",
                          "http://127.0.0.1:9/x.zip"], env=_env(tmp_path / "v.sqlite"))
    assert run.code == 2
    assert "--timeout" in run.err


# --- servers that trickle -------------------------------------------------------------------

@pytest.fixture
def trickler() -> Iterator[tuple[str, list[str]]]:
    """A server on 127.0.0.1 that answers `/body` with headers and then a byte every
    0.2 s (for 10 minutes), and `/headers` with its status line a byte every 0.2 s."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    stop = threading.Event()
    seen: list[str] = []

    def serve(conn: socket.socket) -> None:
        with conn:
            try:
                request = conn.recv(4096).decode("latin-1")
                seen.append(request.split(" ", 2)[1])
                if " /headers " in request:
                    payload = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n" * 1000
                else:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n"
                                 b"ETag: \"x\"\r\n\r\n")
                    payload = b"x" * 3000
                for i in range(len(payload)):
                    if stop.wait(0.2):
                        return
                    conn.sendall(payload[i:i + 1])
            except OSError:
                return

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}", seen
    stop.set()
    srv.close()


@pytest.mark.parametrize("path", ["/body", "/headers"])
def test_trickling_server_is_cut_at_the_deadline(trickler: tuple[str, list[str]],
                                                 tmp_path: Path, path: str) -> None:
    base, seen = trickler
    run = run_dockwarden(["db", "update", "--source", base + path, "--timeout", "2",
                          "--no-progress"], timeout=90, env=_env(tmp_path / "v.sqlite"))
    assert run.code == 3, run.err
    [line] = _errors(run.err)
    assert "within the deadline" in line or "timed out" in line
    assert seen == [path]
    assert not (tmp_path / "v.sqlite").exists()


# --- bad feeds among good ones ------------------------------------------------------------

def test_lone_surrogate_feed_fails_only_its_source(site: Site, tmp_path: Path) -> None:
    db = tmp_path / "vulndb.sqlite"
    doc = json.dumps({"id": "GHSA-bad-0001", "modified": "2024-01-01T00:00:00Z",
                      "summary": "\ud800 lone", "aliases": ["CVE-2024-1\udfff"],
                      "affected": [{"package": {"ecosystem": "PyPI", "name": "x\ud800"},
                                    "versions": ["1.0"]}]})
    bad = site.put("/bad/GHSA-bad-0001.json", doc.encode())
    good = site.put("/npm/all.zip", osv_zip(7))
    run = run_dockwarden(["db", "update", "--source", bad, "--source", good,
                          "--format", "json"], env=_env(db))
    assert run.code in (0, 2), run.err
    outcomes = {o["origin"]: o for o in json.loads(run.out)["sources"]}
    assert outcomes[good]["state"] == "updated" and outcomes[good]["advisories"] == 7
    if outcomes[bad]["state"] == "failed":
        assert run.code == 2 and len(_errors(run.err)) == 1
    assert site.url + "/npm/all.zip" in _origins(db)


# --- kills during an update --------------------------------------------------------------

@pytest.mark.parametrize("point", ["update-downloaded", "update-before-commit",
                                   "writer-before-rename"])
def test_sigkill_during_update_keeps_old_data(site: Site, tmp_path: Path, point: str) -> None:
    db = tmp_path / "vulndb.sqlite"
    url = site.put("/npm/all.zip", osv_zip(20))
    assert run_dockwarden(["db", "update", "--source", url], env=_env(db)).code == 0
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    site.put("/npm/all.zip", osv_zip(40, version="3.0.0"))
    run = run_dockwarden(["db", "update", "--source", url],
                         env={**_env(db), "DOCKWARDEN_TEST_KILL_AT": point})
    assert run.code == -signal.SIGKILL
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    status = run_dockwarden(["db", "status", "--format", "json"], env=_env(db))
    assert status.code == 0 and json.loads(status.out)["advisories"] == 20
    run = run_dockwarden(["db", "update", "--source", url, "--format", "json"], env=_env(db))
    assert run.code == 0, run.err
    assert json.loads(run.out)["sources"][0]["advisories"] == 40
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert [p.name for p in (tmp_path / ".vulndb.sqlite.downloads").iterdir()] == ["lock"]
