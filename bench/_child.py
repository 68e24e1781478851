"""Run one measured command as a direct child: wall time, CPU time and the child's own
peak RSS, read with os.wait4 (RUSAGE_CHILDREN would mix in earlier children)."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class ChildRun:
    wall: float
    cpu: float
    maxrss_kb: int


def run_child(argv: list[str], stdout_path: str, env: dict[str, str],
              timeout: float) -> ChildRun:
    """Raises RuntimeError with the tail of stderr if the command fails."""
    with open(stdout_path, "wb") as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                env=env, close_fds=True)
        deadline = t0 + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.002)
        wall = time.perf_counter() - t0
        proc.returncode = rc = os.waitstatus_to_exitcode(status)  # already reaped
        if rc != 0:
            err.seek(0)
            tail = err.read()[-2000:].decode(errors="replace")
            raise RuntimeError(f"{argv[:6]}... exited {rc}:\n{tail}")
    return ChildRun(wall, usage.ru_utime + usage.ru_stime, int(usage.ru_maxrss))


def dockwarden_argv() -> list[str]:
    """The installed `dockwarden` script, else `python -m dockwarden`."""
    exe = shutil.which("dockwarden")
    return [exe] if exe else [sys.executable, "-m", "dockwarden"]


def bytecode_cache_env(prefix: str) -> tuple[str, dict[str, str]]:
    """A fresh temporary bytecode cache (removed at exit) and an environment whose
    children use it (PYTHONPYCACHEPREFIX; PYTHONDONTWRITEBYTECODE dropped)."""
    pycache = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, pycache, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = pycache
    return pycache, env
