"""Benchmark: one run over many Engines against separate runs, and ssh:// against the
unix socket.

Run as root from the repository root:

    python bench/fleet.py [--engines 8] [--containers 50] [--repeat 3] [--parallel 4]

Eight throw-away dockerd (tests/harness ExtraDaemon: own data root, bridge, socket) get
50 labelled `sleep` containers each (busybox, network none, as bench/engine.py makes
them). Measured, medians of `--repeat` after one untimed warm-up, alternating order:

* separate: `dockwarden containers --no-images -H unix://<sock>` for each Engine, one
  after another (the sum of their wall times);
* fleet: one `dockwarden containers --no-images -H <sock1> ... -H <sockN>`
  (`--parallel`); target: at most 0.5x the sum;
* ssh: an sshd started here on 127.0.0.1 (own keys, `SetEnv DOCKER_HOST=` the first
  extra Engine) and `dockwarden containers --no-images -H ssh://root@127.0.0.1:PORT`
  against the unix-socket audit of that Engine; the ssh connection time (`ssh HOST
  docker version`, one process) is measured on its own; target: at most 1.5x the unix
  audit plus the connection time. The unix audit reads each container's processes from
  this host's /proc; an ssh:// audit cannot, and asks the Engine (`GET
  /containers/{id}/top`, 50 more requests, each 10-20 ms of dockerd's own time: it asks
  containerd for the pids and runs `ps`). So the unix audit with `--no-local` (the same
  requests as over ssh) is measured too, as the transport's own baseline.

`--ssh-only` measures the ssh:// part alone (one Engine is made).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from engine import grow_to, remove_all  # noqa: E402

from harness.daemons import ExtraDaemon, free_port  # noqa: E402
from harness.images import busybox_image  # noqa: E402

DW = [sys.executable, "-m", "dockwarden", "containers", "--no-images", "--format", "json",
      "--no-progress", "--fail-on", "none"]


def timed(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.monotonic()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                          timeout=900)
    wall = time.monotonic() - t0
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{argv[3:]} exited {proc.returncode}: {proc.stderr[-500:]!r}")
    return wall


def sshd(home: str, docker_host: str) -> tuple[subprocess.Popen[bytes], int, dict[str, str]]:
    """An sshd on 127.0.0.1 whose sessions talk to `docker_host`, and the environment
    whose `ssh` (a wrapper first on PATH) trusts it."""
    port = free_port()
    for name in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                        f"{home}/{name}"], check=True)
    shutil.copy(f"{home}/client_key.pub", f"{home}/authorized_keys")
    with open(f"{home}/sshd_config", "w") as fh:
        fh.write(f"Port {port}\nListenAddress 127.0.0.1\nHostKey {home}/host_key\n"
                 f"AuthorizedKeysFile {home}/authorized_keys\nPidFile {home}/sshd.pid\n"
                 "UsePAM no\nPermitRootLogin prohibit-password\nStrictModes no\n"
                 f"PasswordAuthentication no\nSetEnv DOCKER_HOST={docker_host}\n")
    with open(f"{home}/host_key.pub") as fh:
        kind, key = fh.read().split()[:2]
    with open(f"{home}/known_hosts", "w") as fh:
        fh.write(f"[127.0.0.1]:{port} {kind} {key}\n")
    with open(f"{home}/ssh_config", "w") as fh:
        fh.write(f"Host 127.0.0.1\n  IdentityFile {home}/client_key\n  IdentitiesOnly yes\n"
                 f"  UserKnownHostsFile {home}/known_hosts\n  LogLevel ERROR\n")
    os.makedirs(f"{home}/bin")
    with open(f"{home}/bin/ssh", "w") as fh:
        fh.write(f"#!/bin/sh\nexec {shutil.which('ssh')} -F {home}/ssh_config \"$@\"\n")
    os.chmod(f"{home}/bin/ssh", 0o755)
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    proc = subprocess.Popen([shutil.which("sshd") or "/usr/sbin/sshd", "-D", "-e", "-f",
                             f"{home}/sshd_config"], stderr=subprocess.DEVNULL)
    env = {**os.environ, "PATH": f"{home}/bin:{os.environ['PATH']}"}
    for _ in range(100):
        if subprocess.run(["ssh", "-p", str(port), "root@127.0.0.1", "true"], env=env,
                          capture_output=True).returncode == 0:
            break
        time.sleep(0.1)
    return proc, port, env


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engines", type=int, default=8)
    ap.add_argument("--containers", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--ssh-only", action="store_true",
                    help="only the ssh:// against unix-socket part (one Engine)")
    args = ap.parse_args()
    if args.ssh_only:
        args.engines = 1
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory(prefix="dwfleet-") \
            as tmp:
        daemons = [stack.enter_context(ExtraDaemon({"iptables": False}))
                   for _ in range(args.engines)]
        all_ids: list[tuple[str, list[str]]] = []
        for d in daemons:
            api = d.client()
            ids: list[str] = []
            all_ids.append((d.url, ids))
            grow_to(api, busybox_image(api), ids, args.containers, time.monotonic() + 600)
        try:
            urls = [d.url for d in daemons]
            fleet = [*DW, "--parallel", str(args.parallel)]
            for url in urls:
                fleet += ["-H", url]
            proc, port, ssh_env = sshd(tmp, urls[0])
            stack.callback(proc.terminate)
            ssh_url = f"ssh://root@127.0.0.1:{port}"
            sep: list[float] = []
            flt: list[float] = []
            unix: list[float] = []
            no_local: list[float] = []
            over_ssh: list[float] = []
            conn: list[float] = []
            if not args.ssh_only:
                timed(fleet, env)
            timed([*DW, "-H", ssh_url], ssh_env)
            for i in range(args.repeat):
                order = [0, 1] if i % 2 == 0 else [1, 0]
                for which in order if not args.ssh_only else []:
                    if which == 0:
                        sep.append(sum(timed([*DW, "-H", u], env) for u in urls))
                    else:
                        flt.append(timed(fleet, env))
                unix.append(timed([*DW, "-H", urls[0]], ssh_env))
                no_local.append(timed([*DW, "--no-local", "-H", urls[0]], ssh_env))
                over_ssh.append(timed([*DW, "-H", ssh_url], ssh_env))
                t0 = time.monotonic()
                subprocess.run(["ssh", "-p", str(port), "root@127.0.0.1", "docker",
                                "version"], env=ssh_env, capture_output=True, check=True)
                conn.append(time.monotonic() - t0)
        finally:
            for url, ids in all_ids:
                remove_all(url, ids)
    m = statistics.median
    n = args.engines
    if not args.ssh_only:
        print(f"\n{n} Engines x {args.containers} containers (--no-images), median of "
              f"{args.repeat}:")
        print(f"  {n} separate runs, one after another: {m(sep):.2f} s (sum)")
        print(f"  one fleet run (--parallel {args.parallel}): {m(flt):.2f} s = "
              f"{m(flt) / m(sep):.2f}x the sum (target <= 0.5x)")
    print(f"\none Engine x {args.containers} containers, median of {args.repeat}:")
    print(f"  unix socket: {m(unix):.2f} s   unix socket --no-local (the ssh:// requests): "
          f"{m(no_local):.2f} s")
    print(f"  ssh://: {m(over_ssh):.2f} s   ssh connection (ssh HOST docker version): "
          f"{m(conn):.2f} s")
    for name, base in (("unix audit", m(unix)), ("unix --no-local audit", m(no_local))):
        bound = 1.5 * base + m(conn)
        print(f"  against the {name}: bound 1.5x + connection = {bound:.2f} s: "
              f"{'met' if m(over_ssh) <= bound else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
