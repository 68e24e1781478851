"""Extra, throw-away dockerd instances for tests, isolated from the main Engine.

Every ``ExtraDaemon`` gets its own temp dir (data-root, exec-root, pidfile, unix
socket, daemon.json, log), its own Linux bridge ``dwbr<N>`` with 10.199.N.1/24
(a daemon must never fall back to docker0: ``"bridge": "none"`` would delete it),
and unique containerd namespaces. TCP listeners are only allowed on 127.0.0.1.

iptables: a second dockerd with iptables enabled flushes and rebuilds the shared
DOCKER / DOCKER-ISOLATION-* chains, i.e. it breaks the main Engine's rules. So
unless the caller says otherwise, ``--iptables=false`` is passed on the command
line (daemon.json stays as the caller wrote it). If the caller enables iptables
explicitly, the main Engine's rules are snapshotted before start and re-added at
teardown, and rules pointing at this daemon's bridges are deleted.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import ipaddress
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import docker

from harness.engine import _log_tail, make_client

DOCKERD = "/usr/sbin/dockerd"
TMP_BASE = "/tmp"
DIR_PREFIX = "dwd-"
BRIDGE_PREFIX = "dwbr"
SUBNET_FMT = "10.199.{n}.0/24"
STATE_FILE = "harness.json"
_PR_SET_PDEATHSIG = 1

# Keys the harness owns; a caller overriding them could hit the main Engine.
_FORBIDDEN_KEYS = {"bridge", "bip"}


class DaemonStartError(RuntimeError):
    """The extra dockerd did not come up; the message carries the tail of its log."""


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------- helpers


def _run(*cmd: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, check=check)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # zombies count as dead
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _proc_start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _pids_matching(needles: Iterable[str]) -> list[int]:
    needles = [n for n in needles if n]
    me = os.getpid()
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        cmd = _cmdline(int(entry))
        if cmd and any(n in cmd for n in needles):
            out.append(int(entry))
    return out


def _unescape_mountinfo(path: str) -> str:
    return (
        path.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
    )


def _mounts_under(root: str) -> list[str]:
    root = root.rstrip("/")
    found = []
    try:
        with open("/proc/self/mountinfo") as fh:
            for line in fh:
                mp = _unescape_mountinfo(line.split()[4])
                if mp == root or mp.startswith(root + "/"):
                    found.append(mp)
    except OSError:
        pass
    return found


def _umount_all(roots: Iterable[str]) -> None:
    for _ in range(3):  # lazy unmounts can reveal/leave stacked mounts
        mps = sorted({m for r in roots for m in _mounts_under(r)}, key=len, reverse=True)
        if not mps:
            return
        for mp in mps:
            _run("umount", "-l", mp)


def _link_exists(name: str) -> bool:
    return _run("ip", "link", "show", "dev", name).returncode == 0


def _addresses_in_use() -> list[ipaddress.IPv4Interface]:
    res = _run("ip", "-4", "-o", "addr", "show")
    out = []
    for line in res.stdout.splitlines():
        parts = line.split()
        if "inet" in parts:
            with contextlib.suppress(ValueError):
                out.append(ipaddress.IPv4Interface(parts[parts.index("inet") + 1]))
    return out


def _create_bridge() -> tuple[str, int]:
    """Create ``dwbr<N>`` with 10.199.N.1/24; N unique (``ip link add`` is the lock)."""
    candidates = list(range(1, 255))
    random.shuffle(candidates)
    for n in candidates:
        net = ipaddress.IPv4Network(SUBNET_FMT.format(n=n))
        if any(iface.network.overlaps(net) for iface in _addresses_in_use()):
            continue
        name = f"{BRIDGE_PREFIX}{n}"
        if _run("ip", "link", "add", name, "type", "bridge").returncode != 0:
            continue  # taken by a concurrent run
        try:
            _run("ip", "addr", "add", f"10.199.{n}.1/24", "dev", name, check=True)
            _run("ip", "link", "set", name, "up", check=True)
        except subprocess.CalledProcessError:
            _run("ip", "link", "del", name)
            raise
        return name, n
    raise RuntimeError("no free dwbr<N> / 10.199.N.0/24 left")


def _delete_link(name: str) -> None:
    if name and name != "docker0" and _link_exists(name):
        _run("ip", "link", "set", name, "down")
        _run("ip", "link", "del", name)


def _check_host(host: str) -> str:
    """Only unix sockets and tcp://127.0.0.1:PORT are allowed."""
    if host.startswith("unix://"):
        return host
    parts = urlsplit(host)
    if parts.scheme == "tcp" and parts.hostname == "127.0.0.1" and parts.port:
        return host
    raise ValueError(
        f"extra daemons may only listen on unix:// or tcp://127.0.0.1:PORT, got {host!r}"
    )


def _set_pdeathsig() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


# ---------------------------------------------------------------------------- iptables


def _iptables_rules() -> dict[str, list[str]]:
    """{'filter': ['-A CHAIN ...', ...], 'nat': [...]}"""
    out: dict[str, list[str]] = {}
    for table in ("filter", "nat"):
        res = _run("iptables", "-t", table, "-S")
        out[table] = [ln for ln in res.stdout.splitlines() if ln.startswith("-A ")]
    return out


def _iptables_repair(snapshot: dict[str, list[str]], ours: Sequence[str]) -> None:
    """Drop rules that mention ``ours`` (bridges/subnets); re-add missing snapshot rules."""
    current = _iptables_rules()
    for table, rules in current.items():
        for rule in rules:
            toks = rule.split()
            if any(o in toks or any(t.startswith(o) for t in toks) for o in ours):
                _run("iptables", "-t", table, "-D", *toks[1:])
    current = _iptables_rules()
    for table, rules in snapshot.items():
        missing = [r for r in rules if r not in current.get(table, [])]
        # DOCKER* chains end with RETURN, so missing rules go to the top (reverse order).
        for rule in reversed(missing):
            toks = rule.split()
            chain = toks[1]
            if _run("iptables", "-t", table, "-n", "-L", chain).returncode != 0:
                _run("iptables", "-t", table, "-N", chain)
            if chain.startswith("DOCKER"):
                _run("iptables", "-t", table, "-I", chain, "1", *toks[2:])
            else:
                _run("iptables", "-t", table, "-A", chain, *toks[2:])


# ------------------------------------------------------------------------ stale reaping


def reap_stale() -> None:
    """Tear down leftovers of ExtraDaemons whose owning (test) process has died."""
    base = Path(TMP_BASE)
    for d in base.glob(f"{DIR_PREFIX}*"):
        state_path = d / STATE_FILE
        try:
            state = json.loads(state_path.read_text())
        except (OSError, ValueError):
            continue
        owner = int(state.get("owner_pid", 0))
        if owner and _pid_alive(owner) and _proc_start_time(owner) == state.get("owner_start"):
            continue
        pid = int(state.get("dockerd_pid") or 0)
        if pid and _pid_alive(pid) and str(d) in _cmdline(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for p in _pids_matching([str(d), state.get("namespace", "\0")]):
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
        _umount_all([str(d)])
        for link in state.get("links", []):
            _delete_link(link)
        shutil.rmtree(d, ignore_errors=True)


# ------------------------------------------------------------------------- the daemon


class ExtraDaemon:
    """A second dockerd; use as a context manager.

    ``config``: dict written to ``<dir>/daemon.json`` over the required defaults
    (data-root, exec-root, pidfile, bridge, hosts). ``flags``: extra dockerd argv.
    ``hosts``: extra listen addresses (``tcp://127.0.0.1:PORT`` only).
    ``tls``: paths, e.g. from :func:`make_tls`: ``{'cert', 'key'[, 'ca']}`` -> sets
    ``tls: true``, ``tlscert``, ``tlskey`` (``tlscacert`` if 'ca' given) and
    ``tlsverify`` (client certs required) to ``tlsverify``.
    """

    def __init__(
        self,
        config: Mapping[str, Any] | None = None,
        *,
        flags: Sequence[str] = (),
        hosts: Sequence[str] = (),
        tls: Mapping[str, str] | None = None,
        tlsverify: bool = False,
        start_timeout: float = 60.0,
        stop_timeout: float = 30.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.user_config = dict(config or {})
        bad = _FORBIDDEN_KEYS & set(self.user_config)
        if bad:
            raise ValueError(f"ExtraDaemon manages {sorted(bad)} itself (own bridge per daemon)")
        self.flags = list(flags)
        for f in self.flags:
            if f.split("=", 1)[0] in ("-b", "--bridge", "--bip"):
                raise ValueError(f"ExtraDaemon manages the bridge itself, got flag {f!r}")
        self.extra_hosts = [_check_host(h) for h in hosts]
        for h in self.user_config.get("hosts", []):
            _check_host(h)
        self.tls = dict(tls) if tls else None
        self.tlsverify = tlsverify
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.env = dict(env) if env else None

        self.dir = ""
        self.socket = ""
        self.url = ""
        self.config_path = ""
        self.log = ""
        self.pid: int | None = None
        self.bridge = ""
        self.subnet = ""
        self.namespace = ""
        self.config: dict[str, Any] = {}
        self.argv: list[str] = []
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._links: list[str] = []
        self._iptables_snapshot: dict[str, list[str]] | None = None

    # ----------------------------------------------------------------- properties
    @property
    def data_root(self) -> str:
        return str(self.config.get("data-root", ""))

    @property
    def exec_root(self) -> str:
        return str(self.config.get("exec-root", ""))

    @property
    def tcp_hosts(self) -> list[str]:
        return [h for h in self.config.get("hosts", []) if h.startswith("tcp://")]

    @property
    def iptables_enabled(self) -> bool:
        return (
            "--iptables=false" not in self.argv and self.config.get("iptables", True) is not False
        )

    def client(self, timeout: float = 60.0) -> docker.APIClient:
        """APIClient on the unix socket (version='auto')."""
        return make_client(self.url, timeout=timeout)

    def tcp_client(
        self,
        tls: docker.tls.TLSConfig | None = None,
        *,
        index: int = 0,
        timeout: float = 60.0,
    ) -> docker.APIClient:
        """APIClient on the ``index``-th TCP host (https if ``tls``; see engine.tls_config)."""
        hostport = self.tcp_hosts[index][len("tcp://") :]
        scheme = "https" if tls else "http"
        return make_client(f"{scheme}://{hostport}", tls=tls, timeout=timeout)

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> ExtraDaemon:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _write_state(self) -> None:
        state = {
            "owner_pid": os.getpid(),
            "owner_start": _proc_start_time(os.getpid()),
            "dockerd_pid": self.pid,
            "links": self._links,
            "namespace": self.namespace,
        }
        Path(self.dir, STATE_FILE).write_text(json.dumps(state))

    def start(self) -> None:
        reap_stale()
        if not os.path.exists(DOCKERD):
            raise DaemonStartError(f"{DOCKERD} missing; call harness.engine.ensure_engine() first")
        self.dir = tempfile.mkdtemp(prefix=DIR_PREFIX, dir=TMP_BASE)
        os.chmod(self.dir, 0o711)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        d = self.dir
        self.socket = f"{d}/docker.sock"
        self.url = f"unix://{self.socket}"
        self.config_path = f"{d}/daemon.json"
        self.log = f"{d}/dockerd.log"
        self._write_state()
        self.bridge, n = _create_bridge()
        self._links.append(self.bridge)
        self.subnet = SUBNET_FMT.format(n=n)
        # containerd namespaces are alphanumeric words joined by single '.', '_' or '-'
        # (mkdtemp's suffix may hold '_' anywhere): keep its letters and digits only
        suffix = "".join(c for c in os.path.basename(d)[len(DIR_PREFIX):] if c.isalnum())
        self.namespace = f"dwtest{n}-{suffix}"
        self._write_state()

        cfg: dict[str, Any] = {
            "data-root": f"{d}/data",
            "exec-root": f"{d}/exec",
            "pidfile": f"{d}/docker.pid",
        }
        cfg.update(self.user_config)
        cfg["bridge"] = self.bridge
        hosts = [f"unix://{self.socket}"]
        for h in [*self.user_config.get("hosts", []), *self.extra_hosts]:
            if h not in hosts:
                hosts.append(h)
        cfg["hosts"] = hosts
        if self.tls:
            cfg["tls"] = True
            cfg["tlscert"] = self.tls["cert"]
            cfg["tlskey"] = self.tls["key"]
            if self.tls.get("ca"):
                cfg["tlscacert"] = self.tls["ca"]
            cfg["tlsverify"] = self.tlsverify
        self.config = cfg
        with open(self.config_path, "w") as fh:
            json.dump(cfg, fh, indent=2)

        flag_names = {f.split("=", 1)[0] for f in self.flags}
        argv = [DOCKERD, "--config-file", self.config_path]
        if "--containerd-namespace" not in flag_names:
            argv += ["--containerd-namespace", self.namespace]
        if "--containerd-plugins-namespace" not in flag_names:
            argv += ["--containerd-plugins-namespace", f"{self.namespace}-plugins"]
        if "iptables" not in cfg and "--iptables" not in flag_names:
            argv.append("--iptables=false")
        argv += self.flags
        self.argv = argv
        if self.iptables_enabled:
            self._iptables_snapshot = _iptables_rules()

        t0 = time.monotonic()
        with open(self.log, "ab") as log:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                close_fds=True,
                start_new_session=True,
                preexec_fn=_set_pdeathsig,
                env=self.env,
            )
        self.pid = self._proc.pid
        self._write_state()
        deadline = t0 + self.start_timeout
        while True:
            if self._proc.poll() is not None:
                raise DaemonStartError(
                    f"dockerd exited with {self._proc.returncode}; argv={argv}\n"
                    f"daemon.json={json.dumps(cfg)}\n--- log tail ---\n{_log_tail(self.log)}"
                )
            if os.path.exists(self.socket) and self._ping():
                break
            if time.monotonic() > deadline:
                raise DaemonStartError(
                    f"dockerd did not answer /_ping within {self.start_timeout:.0f}s; "
                    f"argv={argv}\n--- log tail ---\n{_log_tail(self.log)}"
                )
            time.sleep(0.1)
        self.startup_seconds = time.monotonic() - t0

    def _ping(self) -> bool:
        try:
            api = docker.APIClient(base_url=self.url, version="1.41", timeout=2)
            try:
                return bool(api.ping())
            finally:
                api.close()
        except Exception:
            return False

    def _extra_bridges_from_api(self) -> list[str]:
        """Bridges of user-defined networks (the daemon does not delete them on exit)."""
        names: list[str] = []
        try:
            api = docker.APIClient(base_url=self.url, version="1.41", timeout=10)
            try:
                for c in api.containers(all=False):
                    with contextlib.suppress(Exception):
                        api.kill(c["Id"])
                for net in api.networks():
                    if net.get("Driver") != "bridge" or net.get("Name") == "bridge":
                        continue
                    opts = net.get("Options") or {}
                    names.append(
                        opts.get("com.docker.network.bridge.name") or f"br-{net['Id'][:12]}"
                    )
            finally:
                api.close()
        except Exception:
            pass
        return names

    def stop(self) -> None:
        """SIGTERM (then SIGKILL), unmount, delete bridges, remove the dir. Idempotent."""
        if not self.dir:
            return
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            self._links += [b for b in self._extra_bridges_from_api() if b not in self._links]
            self._write_state()
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        # managed containerd, shims, stray container processes
        for p in _pids_matching([self.dir, self.namespace]):
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
        _umount_all([self.dir])
        for link in self._links:
            _delete_link(link)
        if self._iptables_snapshot is not None:
            ours = [*self._links, self.subnet]
            _iptables_repair(self._iptables_snapshot, [o for o in ours if o])
            self._iptables_snapshot = None
        if os.environ.get("DW_KEEP_DAEMON_DIRS"):
            print(f"ExtraDaemon: keeping {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = ""


# ------------------------------------------------------------------------------- TLS


def make_tls(
    directory: str | os.PathLike[str],
    *,
    server_days: float = 30,
    key_size: int = 2048,
    server_key_size: int | None = None,
    hash_name: str = "sha256",
    server_names: Sequence[str] = ("localhost",),
    server_ips: Sequence[str] = ("127.0.0.1",),
) -> dict[str, str]:
    """Write ca.pem, server-{cert,key}.pem, client-{cert,key}.pem under ``directory``.

    ``server_days``: validity of the server cert from now; ``<= 0`` gives a cert that
    expired ``-server_days`` days ago (use e.g. ``0.5`` for soon-expiring).
    ``server_key_size``: e.g. 1024 for a weak server key (default ``key_size``).
    ``hash_name``: signature hash for the server cert (e.g. "sha1" for a weak one).
    Returns {'ca','cert','key','client_cert','client_key'} (absolute paths).
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    out = Path(directory).absolute()
    out.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    server_hash = {
        "sha256": hashes.SHA256(),
        "sha1": hashes.SHA1(),
        "sha384": hashes.SHA384(),
        "sha512": hashes.SHA512(),
    }[hash_name]

    def key(bits: int) -> rsa.RSAPrivateKey:
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)

    def name(cn: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dockwarden-test"),
                x509.NameAttribute(NameOID.COMMON_NAME, cn),
            ]
        )

    def write_key(path: Path, k: rsa.RSAPrivateKey) -> None:
        path.write_bytes(
            k.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
        path.chmod(0o600)

    def write_cert(path: Path, c: x509.Certificate) -> None:
        path.write_bytes(c.public_bytes(serialization.Encoding.PEM))

    ca_key = key(2048)
    ca_name = name("dockwarden test CA")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=max(30, server_days + 1)))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(
        cn: str,
        k: rsa.RSAPrivateKey,
        not_before: dt.datetime,
        not_after: dt.datetime,
        usage: x509.ObjectIdentifier,
        sans: list[x509.GeneralName],
        h: hashes.HashAlgorithm,
    ) -> x509.Certificate:
        b = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(ca_name)
            .public_key(k.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_encipherment=True,
                    content_commitment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
        )
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return b.sign(ca_key, h)

    if server_days > 0:
        s_before, s_after = now - dt.timedelta(minutes=5), now + dt.timedelta(days=server_days)
    else:
        s_after = now + dt.timedelta(days=server_days) - dt.timedelta(minutes=1)
        s_before = s_after - dt.timedelta(days=30)
    srv_key = key(server_key_size or key_size)
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in server_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in server_ips]
    srv_cert = leaf(
        server_names[0] if server_names else "server",
        srv_key,
        s_before,
        s_after,
        ExtendedKeyUsageOID.SERVER_AUTH,
        sans,
        server_hash,
    )
    cli_key = key(key_size)
    cli_cert = leaf(
        "client",
        cli_key,
        now - dt.timedelta(minutes=5),
        now + dt.timedelta(days=30),
        ExtendedKeyUsageOID.CLIENT_AUTH,
        [],
        hashes.SHA256(),
    )

    paths = {
        "ca": out / "ca.pem",
        "cert": out / "server-cert.pem",
        "key": out / "server-key.pem",
        "client_cert": out / "client-cert.pem",
        "client_key": out / "client-key.pem",
    }
    write_cert(paths["ca"], ca_cert)
    write_cert(paths["cert"], srv_cert)
    write_key(paths["key"], srv_key)
    write_cert(paths["client_cert"], cli_cert)
    write_key(paths["client_key"], cli_key)
    return {k: str(v) for k, v in paths.items()}
