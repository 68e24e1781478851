"""DW501-DW519: one Dockerfile, judged from its parsed stages (pure; no I/O).

Each check is `f(df: DockerfileSnapshot) -> Iterator[Fail]`, run by the registry's
`run(checks, (df,), target, Source.DOCKERFILE, lines=line_map(df))`.

Line convention: every `Fail` carries the offending instruction's start line twice: in
its evidence as `"line": n`, and as `field=f"line:{n}"`, which the runner looks up in
`lines` to set `target.line`. `line_map(df)` builds that map (`{"line:n": n}` for every
instruction line); the CLI and the tests pass it. When the file has several stages the
evidence also holds `"stage"` (its name, else its index). Evidence shows instructions
with secrets redacted (`secrets.redact_command`) and cut to 200 characters.

Stage awareness: "the image" is the final stage plus the stages it is built `FROM`
(the model's `df.final_chain()`; its user is `df.final_user()`, also what compose asks);
DW501, DW509, DW510, DW517-DW519 and DW506's cache reasons look only there. DW507 and
DW514-DW516 look at every stage BuildKit builds (`built_stages`). DW512 is high in a
stage whose files can reach the final image (the chain, or a stage it `COPY --from`s,
transitively) and medium in a stage nothing copies from.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

from dockwarden import secrets
from dockwarden.checks.common import is_moving_ref, is_root_user
from dockwarden.checks.registry import CIS_BENCHMARK, CIS_CONTROLS, Fail, Scope, check
from dockwarden.model.common import Severity, TargetKind
from dockwarden.model.dockerfile import Argv, DockerfileSnapshot, Instruction, Pipeline, Stage

D = Scope.DOCKERFILE
DF = TargetKind.DOCKERFILE
SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "ksh", "mksh"})
DOWNLOADERS = frozenset({"curl", "wget"})
WRAPPERS = frozenset({"sudo", "env", "exec", "nohup", "time", "command", "doas"})
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tbz2",
                ".tar.zst")
URL_PREFIXES = ("http://", "https://", "git://", "git@", "ssh://")


def _cis(check_id: str, control: str) -> tuple[str, ...]:
    """The CIS reference of SPEC.md's table, unless the CIS data file already maps it."""
    if check_id in CIS_CONTROLS.get(control, ()):
        return ()
    return (f"{CIS_BENCHMARK} {control}",)


def line_map(df: DockerfileSnapshot) -> dict[str, int]:
    """`lines` for the registry's runner: `{"line:n": n}` for every instruction line."""
    return {f"line:{n}": n for n in df.lines()}


def _shown(text: str) -> str:
    """An instruction as evidence shows it: redacted, cut to 200 characters. Rules quote
    the same instructions again and again (3,034 calls for 1,083 texts over the corpus):
    short ones are remembered (bounded: at most 1,024 texts of 4 KiB)."""
    if len(text) <= 4096:
        return _shown_short(text)
    return secrets.redact_command(text)[:200]


@functools.lru_cache(maxsize=1024)
def _shown_short(text: str) -> str:
    return secrets.redact_command(text)[:200]


def _fail(df: DockerfileSnapshot, stage: Stage, inst: Instruction, severity: Severity | None
          = None, message: str = "", **evidence: Any) -> Fail:
    ev: dict[str, Any] = {"line": inst.line, "instruction": _shown(inst.original)}
    if len(df.stages) > 1:
        ev["stage"] = stage.label
    ev.update(evidence)
    return Fail(ev, severity=severity, message=message, field=f"line:{inst.line}")


def used_stages(df: DockerfileSnapshot) -> set[int]:
    """Indexes of the stages whose files can reach the final image: the final chain and,
    transitively, the stages they `COPY --from` (and those stages' bases)."""
    todo = [df.final]
    seen: set[int] = set()
    while todo:
        stage = todo.pop()
        if stage.index in seen:
            continue
        seen.add(stage.index)
        base = df.base_stage(stage)
        if base is not None:
            todo.append(base)
        for inst in stage.instructions:
            ref = inst.flag("from") if inst.cmd in ("COPY", "ADD") else None
            if ref:
                src = df.stage_named(ref)
                if src is not None:
                    todo.append(src)
    return seen


def _runs(df: DockerfileSnapshot) -> Iterator[tuple[Stage, Instruction]]:
    for stage in df.stages:
        for inst in stage.instructions:
            if inst.is_run:
                yield stage, inst


def _name(word: str) -> str:
    return word.rsplit("/", 1)[-1].lower()


def effective(argv: Argv) -> Argv:
    """argv without leading wrappers (`sudo -E`, `env A=1`, `exec`...)."""
    i = 0
    while i < len(argv) and _name(argv[i]) in WRAPPERS:
        i += 1
        while i < len(argv) and (argv[i].startswith("-") or "=" in argv[i]):
            i += 1
    return argv[i:]


# --- DW501 ----------------------------------------------------------------------------

@check(
    id="DW501", title="Final stage runs as root", severity=Severity.MEDIUM, scope=D,
    target_kind=DF,
    rationale="Without a USER (or with USER root) every container of the image runs as root "
    "unless the operator remembers --user; only the final stage's user is the image's. "
    "Without a USER the image runs as its base image's user: judged from the base image's "
    "config when it can be read (local Engine, registry with --resolve-base), otherwise "
    "reported at low severity as unknown.",
    remediation="Add `USER <unprivileged uid>` to the final stage (create the user first).",
    references=("DL3002", "DS002", *_cis("DW501", "4.1")),
    bad=("FROM debian:12\nUSER root\n", "FROM debian:12\nRUN true\n",
         "FROM scratch\nCOPY app /app\n"),
    good=("FROM debian:12\nUSER 10001\n", "FROM debian:12 AS b\nUSER app\nFROM b\n"),
)
def final_root(df: DockerfileSnapshot) -> Iterator[Fail]:
    """The effective user: the last USER of the final chain; else the base image's
    configured user (`df.base_user`, looked up by the collector); else unknown (low)."""
    found = df.final_user()
    if found is not None:
        stage, last = found
        if not last.args:
            yield _fail(df, stage, last, Severity.LOW,
                        f"USER without an argument (line {last.line}): docker build rejects "
                        "the file (USER requires exactly one argument); the user is unknown",
                        user=None, user_source="invalid")
        elif is_root_user(last.args[0]):
            yield _fail(df, stage, last, user=last.args[0], user_source="USER")
        return
    final, base = df.final, df.external_base  # the image the collector looked up
    known = df.base_user if df.base_user is not None and df.base_user.image == base else None
    if base.lower() == "scratch":
        yield _fail(df, final, final.instructions[0], user=None, base=base,
                    user_source="scratch",
                    message="no USER instruction and FROM scratch: the container runs as root")
    elif known is not None and known.user is not None:
        if is_root_user(known.user):  # empty (no User in the config) is root
            yield _fail(df, final, final.instructions[0], user=known.user or "root",
                        base=base, user_source=known.source,
                        message=f"no USER instruction: the base image {_shown(base)} runs "
                        f"as root (its config, read from the {known.source})")
    else:
        why = known.reason if known is not None else "the base image's config was not read"
        yield _fail(df, final, final.instructions[0], Severity.LOW,
                    f"no USER instruction: the user is inherited from {_shown(base)} and "
                    "unknown", user=None, base=base, user_source="unknown", why=why)


# --- DW502 ----------------------------------------------------------------------------

@check(
    id="DW502", title="Base image unpinned (latest / no tag / no digest)",
    severity=Severity.LOW, scope=D, target_kind=DF,
    rationale="`latest` or no tag means the next build may start from different code than "
    "was reviewed.",
    remediation="Pin the base image by digest (name:tag@sha256:...) or an exact version tag.",
    references=("DL3006", "DL3007", "DS001"),
    bad=("FROM debian\n", "FROM debian:latest\n", "ARG B=alpine\nFROM ${B}\n"),
    good=("FROM debian:12\n", "FROM scratch\n", "FROM debian:12 AS b\nFROM b\n",
          "FROM debian@sha256:" + "a" * 64 + "\n"),
)
def unpinned_base(df: DockerfileSnapshot) -> Iterator[Fail]:
    for stage in df.stages:
        image = stage.base_resolved
        if image.lower() == "scratch" or df.base_stage(stage) is not None:
            continue
        if "$" in image:  # an ARG without a default: cannot judge
            continue
        if is_moving_ref(image):
            yield _fail(df, stage, stage.instructions[0], image=image)


# --- DW503 / DW504 ----------------------------------------------------------------------

def _add_sources(inst: Instruction) -> tuple[str, ...]:
    if inst.cmd != "ADD" or inst.heredocs or len(inst.args) < 2:
        return ()
    return inst.args[:-1]


def _is_url(src: str) -> bool:
    low = src.lower()
    return low.startswith(URL_PREFIXES) or (low.endswith(".git") and "://" in low)


@check(
    id="DW503", title="ADD where COPY would do", severity=Severity.LOW, scope=D,
    target_kind=DF,
    rationale="ADD also fetches URLs and unpacks archives; for plain local files COPY says "
    "what it does and nothing more.",
    remediation="Use COPY for local files and directories.",
    references=("DL3020", "DS005", *_cis("DW503", "4.9")),
    bad=("FROM debian:12\nADD app.py /app/\n",),
    good=("FROM debian:12\nCOPY app.py /app/\n", "FROM debian:12\nADD rootfs.tar.gz /\n"),
)
def add_local(df: DockerfileSnapshot) -> Iterator[Fail]:
    for stage in df.stages:
        for inst in stage.instructions:
            local = [s for s in _add_sources(inst)
                     if not _is_url(s) and not s.lower().endswith(TAR_SUFFIXES)]
            if local:
                yield _fail(df, stage, inst, sources=local[:10])


@check(
    id="DW504", title="ADD from a remote URL", severity=Severity.MEDIUM, scope=D,
    target_kind=DF,
    rationale="ADD downloads at build time without verifying what arrives (unless "
    "--checksum is given) and leaves the download in a layer.",
    remediation="Download in a RUN with checksum verification (curl + sha256sum), or add "
    "--checksum=sha256:...; fetch sources in an earlier stage.",
    references=("DL3020",),
    bad=("FROM debian:12\nADD https://example.com/x.tgz /opt/\n",),
    good=("FROM debian:12\nCOPY x.tgz /opt/\n",),
)
def add_url(df: DockerfileSnapshot) -> Iterator[Fail]:
    for stage in df.stages:
        for inst in stage.instructions:
            urls = [s for s in _add_sources(inst) if _is_url(s)]
            if urls:
                verified = inst.flag("checksum") is not None
                yield _fail(df, stage, inst, Severity.LOW if verified else None,
                            urls=[_shown(u) for u in urls[:10]], checksum=verified)


# --- DW505 ----------------------------------------------------------------------------

def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


_VAR_ONLY = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?")


@check(
    id="DW505", title="Secret in ENV or ARG", severity=Severity.HIGH, scope=D,
    target_kind=DF,
    rationale="ENV values are stored in the image config and ARG values (also those given "
    "with --build-arg) in its history: anyone who can pull the image reads them.",
    remediation="Pass build secrets with `RUN --mount=type=secret` and runtime secrets "
    "through the orchestrator's secrets, never ENV/ARG.",
    references=_cis("DW505", "4.10"),
    bad=("FROM debian:12\nENV DB_PASSWORD=s3cr3tPassw0rd\n",
         "FROM debian:12\nARG NPM_TOKEN\n"),
    good=("FROM debian:12\nENV DB_PASSWORD_FILE=/run/secrets/db\n",
          "FROM debian:12\nARG VERSION=1.2\n"),
)
def env_secret(df: DockerfileSnapshot) -> Iterator[Fail]:
    """High: a value the secret rules recognise. Medium (decided): a secret-named ARG
    with no real default (its value will come from --build-arg, which `docker history`
    shows for every later RUN), and a secret-named ENV set from a variable (copies a
    build arg into the image config)."""
    scopes: list[tuple[Stage, tuple[Instruction, ...]]] = [
        (df.stages[0], df.global_args), *((s, s.instructions) for s in df.stages)]
    for stage, insts in scopes:
        for inst in insts:
            if inst.cmd == "ENV":
                pairs = [(inst.args[i], _unquote(inst.args[i + 1]))
                         for i in range(0, len(inst.args) - 1, 2)]
            elif inst.cmd == "ARG":
                pairs = []
                for item in inst.args:
                    name, sep, value = item.partition("=")
                    pairs.append((name, _unquote(value) if sep else ""))
            else:
                continue
            hits = secrets.scan_env(pairs)
            hit_names = {h.name for h in hits}
            for h in hits:
                yield _fail(df, stage, inst, name=h.name, value=h.redacted, rule=h.rule.id)
            for name, value in pairs:
                if name in hit_names or not secrets.is_secret_name(name):
                    continue
                if inst.cmd == "ARG" and secrets.is_placeholder(value):
                    yield _fail(df, stage, inst, Severity.MEDIUM,
                                "build arg named like a secret: --build-arg values are kept "
                                "in the image history", name=name)
                elif inst.cmd == "ENV" and _VAR_ONLY.fullmatch(value):
                    yield _fail(df, stage, inst, Severity.MEDIUM,
                                "secret-named ENV set from a variable is stored in the "
                                "image config", name=name, value=value)


# --- DW506 ----------------------------------------------------------------------------

def _sub(argv: Argv) -> tuple[str, str]:
    """(tool, subcommand) of a package manager call: ("apt-get", "install")."""
    argv = effective(argv)
    if not argv:
        return "", ""
    tool = _name(argv[0])
    words = [a for a in argv[1:] if not a.startswith("-")]
    return tool, (words[0] if words else "")


def _cache_mounted(inst: Instruction, path: str) -> bool:
    return any(f.startswith("--mount=") and "type=cache" in f and path in f
               for f in inst.flags)


@check(
    id="DW506", title="`apt-get update` in its own RUN, or installs without cleanup",
    severity=Severity.LOW, scope=D, target_kind=DF,
    rationale="An update cached in its own layer makes later installs use stale indexes; "
    "package caches left behind bloat every image and pin old metadata.",
    remediation="`RUN apt-get update && apt-get install -y ... && rm -rf /var/lib/apt/lists/*`"
    "; `apk add --no-cache`; `yum/dnf install ... && yum/dnf clean all`.",
    references=("DS017", *_cis("DW506", "4.7")),
    bad=("FROM debian:12\nRUN apt-get update\n",
         "FROM debian:12\nRUN apt-get update && apt-get install -y curl=7.88\n",
         "FROM alpine:3.20\nRUN apk add curl=8.9.1-r0\n"),
    good=("FROM debian:12\nRUN apt-get update && apt-get install -y curl=7.88 "
          "&& rm -rf /var/lib/apt/lists/*\n",
          "FROM alpine:3.20\nRUN apk add --no-cache curl=8.9.1-r0\n"),
)
def package_cache(df: DockerfileSnapshot) -> Iterator[Fail]:
    """Caches left behind count only in the final chain (decided): a stage's apt lists
    reach the image only as the file system the final stage is built FROM; `COPY --from`
    copies the paths it names, never a stage's caches. The stale-index form (`apt-get
    update` alone) is judged in every stage BuildKit builds: it breaks those builds too."""
    image = {s.index for s in df.final_chain()}
    for stage, inst in _runs_in(df, built_stages(df)):
        calls = [(_sub(a), a) for a in inst.commands]
        tools = {(t, s) for (t, s), _ in calls}
        words = " ".join(w for a in inst.commands for w in a)
        reasons: list[str] = []
        apt = {("apt-get", "update"), ("apt", "update")} & tools
        apt_install = {("apt-get", "install"), ("apt", "install")} & tools
        if apt and not apt_install:
            reasons.append("apt-get update without an install in the same RUN")
        if stage.index not in image:
            if reasons:
                yield _fail(df, stage, inst, reasons=reasons)
            continue
        if apt_install and "/var/lib/apt/lists" not in words \
                and not _cache_mounted(inst, "/var/lib/apt"):
            reasons.append("apt-get install without rm -rf /var/lib/apt/lists/*")
        for (tool, sub), argv in calls:
            if (tool, sub) == ("apk", "add") and "--no-cache" not in argv \
                    and "/var/cache/apk" not in words \
                    and not _cache_mounted(inst, "/var/cache/apk"):
                reasons.append("apk add without --no-cache")
            if tool in ("yum", "dnf", "microdnf") and sub == "install" \
                    and not ({(tool, "clean")} & tools) and f"/var/cache/{tool}" not in words \
                    and not _cache_mounted(inst, f"/var/cache/{tool}"):
                reasons.append(f"{tool} install without {tool} clean all")
        if reasons:
            yield _fail(df, stage, inst, reasons=sorted(set(reasons)))


# --- DW507 ----------------------------------------------------------------------------

_FETCH_SUBST = re.compile(r"(?:\$\(|`|<\()\s*(?:\S*/)?(?:curl|wget)\b")


@check(
    id="DW507", title="Downloaded script piped into a shell", severity=Severity.MEDIUM,
    scope=D, target_kind=DF,
    rationale="`curl | sh` runs whatever the server (or anyone in the path) sends, "
    "unverified, at build time; so does installing or running a fetched package or script "
    "(`dpkg -i`, `rpm -i`, `sh i.sh`) with no checksum or signature checked in between.",
    remediation="Download to a file, verify its checksum or signature, then run it.",
    bad=("FROM debian:12\nRUN curl -fsSL https://get.example.com | sh\n",
         "FROM debian:12\nRUN bash -c \"$(curl -fsSL https://x.example.com/i.sh)\"\n",
         "FROM debian:12\nRUN wget https://x.example.com/a.deb && dpkg -i a.deb\n"),
    good=("FROM debian:12\nRUN curl -fsSLo i.sh https://x.example.com/i.sh "
          "&& sha256sum -c i.sh.sha256 && sh i.sh\n",),
)
def curl_pipe_shell(df: DockerfileSnapshot) -> Iterator[Fail]:
    """Forms: "pipe" (`curl | sh`, also into python/perl/ruby/node/php reading the script
    from stdin), "substitution" (`sh -c "$(curl ...)"`, `bash <(curl ...)`), "installer"
    (a fetched .deb/.rpm installed, or a URL given to rpm/yum) and "run" (a fetched script
    run by a shell or by path) with no verifying command between the fetch and its use.
    Extended here rather than a new id: it is the same risk, one finding per RUN."""
    for stage, inst in _runs_in(df, built_stages(df)):
        hit, shown = _pipe_hit(inst)
        if not hit:
            hit, shown = _installed_hit(inst)
        if hit:
            yield _fail(df, stage, inst, form=hit, command=_shown(shown))


def _pipe_hit(inst: Instruction) -> tuple[str, str]:
    for pipe in inst.pipes:
        command = " | ".join(" ".join(a) for a in pipe)
        if _pipe_to_shell(pipe):
            return "pipe", command
        for argv in (effective(a) for a in pipe):
            if argv and _name(argv[0]) in SHELLS and any(_FETCH_SUBST.search(w)
                                                         for w in argv[1:]):
                return "substitution", command
    return "", ""


def _installed_hit(inst: Instruction) -> tuple[str, str]:
    fetched: set[str] = set()
    for argv in inst.commands:
        if verifies(argv):
            fetched.clear()  # what was fetched before is checked from here on
            continue
        fetched.update(_fetched_files(argv))
        targets = _installed_files(argv)
        if any(_matches_fetched(t, fetched) for t in targets):
            return "installer", " ".join(argv)
        if fetched and _runs_fetched(argv, fetched):
            return "run", " ".join(argv)
    return "", ""


# --- DW508 ----------------------------------------------------------------------------

@check(
    id="DW508", title="sudo", severity=Severity.MEDIUM, scope=D, target_kind=DF,
    rationale="sudo in a build means the user setup is wrong: a build already runs as root "
    "until USER, and sudo left in the image lets the runtime user become root.",
    remediation="Run the step before USER (as root) and drop sudo from the image.",
    references=("DL3004",),
    bad=("FROM debian:12\nRUN sudo apt-get install -y x\n",),
    good=("FROM debian:12\nRUN apt-get install -y x\n",),
)
def sudo(df: DockerfileSnapshot) -> Iterator[Fail]:
    for stage, inst in _runs(df):
        if any(_runs_sudo(a) for a in inst.commands):
            yield _fail(df, stage, inst)


def _runs_sudo(argv: Argv) -> bool:
    """sudo as the command, or behind wrappers (`env A=1 sudo ...`, `nohup sudo ...`)."""
    i = 0
    while i < len(argv):
        name = _name(argv[i])
        if name == "sudo":
            return True
        if name not in WRAPPERS:
            return False
        i += 1
        while i < len(argv) and (argv[i].startswith("-") or "=" in argv[i]):
            i += 1
    return False


# --- DW509 ----------------------------------------------------------------------------

@check(
    id="DW509", title="No HEALTHCHECK", severity=Severity.LOW, scope=D, target_kind=DF,
    rationale="Without a health check the Engine cannot tell a hung service from a "
    "working one.",
    remediation="Add a HEALTHCHECK instruction to the final stage.",
    references=("DS026", *_cis("DW509", "4.6")),
    bad=("FROM nginx:1.27\n", "FROM nginx:1.27\nHEALTHCHECK NONE\n"),
    good=("FROM nginx:1.27\nHEALTHCHECK CMD curl -f http://localhost/ || exit 1\n",),
)
def no_healthcheck(df: DockerfileSnapshot) -> Iterator[Fail]:
    for stage in df.final_chain():
        checks = [i for i in stage.instructions if i.cmd == "HEALTHCHECK"]
        if checks:
            last = checks[-1]
            if last.args and last.args[0].upper() == "NONE":
                yield _fail(df, stage, last)
            return
    final = df.final
    yield _fail(df, final, final.instructions[0])


# --- DW510 ----------------------------------------------------------------------------

def _exposes_22(port: str) -> bool:
    spec = port.split("/", 1)[0]
    low, _, high = spec.partition("-")
    try:
        return int(low) <= 22 <= int(high or low)
    except ValueError:
        return False


@check(
    id="DW510", title="Port 22 exposed", severity=Severity.LOW, scope=D, target_kind=DF,
    rationale="An SSH server in a container is another way in, with its own keys to manage; "
    "`docker exec` already gives shell access.",
    remediation="Remove the SSH server and EXPOSE 22; use docker exec for debugging.",
    references=("DS004",),
    bad=("FROM debian:12\nEXPOSE 22\n", "FROM debian:12\nEXPOSE 80 22/tcp\n"),
    good=("FROM debian:12\nEXPOSE 8080\n",),
)
def ssh_port(df: DockerfileSnapshot) -> Iterator[Fail]:
    for stage in df.final_chain():
        for inst in stage.instructions:
            if inst.cmd == "EXPOSE":
                ports = [p for p in inst.args for p in p.split() if _exposes_22(p)]
                if ports:
                    yield _fail(df, stage, inst, ports=ports)


# --- DW511 ----------------------------------------------------------------------------

_OCTAL = re.compile(r"0?([0-7]{3,4})")
_SYMBOLIC = re.compile(r"([ugoa]*)([-+=])([rwxXst]*)")


def dangerous_mode(mode: str) -> str | None:
    """Why a chmod mode is dangerous ("world-writable", "setuid/setgid"), or None.
    World-writable with the sticky bit (1777, like /tmp) is accepted."""
    m = _OCTAL.fullmatch(mode)
    if m:
        digits = m.group(1).rjust(4, "0")
        special, other = int(digits[0]), int(digits[3])
        if special & 6:
            return "setuid/setgid"
        if other & 2 and not special & 1:
            return "world-writable"
        return None
    for clause in mode.split(","):
        s = _SYMBOLIC.fullmatch(clause)
        if not s or s.group(2) == "-":
            continue
        who, perms = s.group(1), s.group(3)
        if "s" in perms and ("u" in who or "g" in who or "a" in who or not who):
            return "setuid/setgid"
        if "w" in perms and ("o" in who or "a" in who) and "t" not in perms:
            return "world-writable"
    return None


def _chmod_modes(argv: Argv) -> list[str]:
    args = [a for a in argv[1:] if not a.startswith("-") or _SYMBOLIC.fullmatch(a)]
    return args[:1] if args else []


@check(
    id="DW511", title="chmod 777 / setuid bits set", severity=Severity.MEDIUM, scope=D,
    target_kind=DF,
    rationale="World-writable files let any process in the container replace code; setuid "
    "or setgid binaries are a path from the runtime user back to root.",
    remediation="Grant only the permissions needed (e.g. 755/644, chown to the app user); "
    "do not add setuid/setgid bits.",
    bad=("FROM debian:12\nRUN chmod -R 777 /app\n", "FROM debian:12\nRUN chmod u+s /bin/x\n",
         "FROM debian:12\nCOPY --chmod=777 a /a\n"),
    good=("FROM debian:12\nRUN chmod 755 /app\n", "FROM debian:12\nRUN chmod 1777 /scratch\n"),
)
def chmod_danger(df: DockerfileSnapshot) -> Iterator[Fail]:
    for stage in df.stages:
        for inst in stage.instructions:
            found: list[tuple[str, str]] = []
            if inst.cmd in ("COPY", "ADD"):
                mode = inst.flag("chmod")
                if mode and (why := dangerous_mode(mode)):
                    found.append((mode, why))
            for argv in inst.commands:
                argv = effective(argv)
                if argv and _name(argv[0]) == "chmod":
                    for mode in _chmod_modes(argv):
                        if why := dangerous_mode(mode):
                            found.append((mode, why))
            if found:
                yield _fail(df, stage, inst, modes=[m for m, _ in found],
                            reasons=sorted({w for _, w in found}))


# --- DW512 ----------------------------------------------------------------------------

SECRET_DIRS = frozenset({".ssh", ".aws", ".gnupg", ".kube", ".docker"})


def secret_file(src: str) -> str | None:
    """The secret rule a COPY/ADD source's name matches (secrets.file_rules), or None."""
    path = src.rstrip("/")
    while path.startswith("./"):
        path = path[2:]
    path = "/" + path.lstrip("/")
    rules = secrets.file_rules(path)
    if rules:
        return rules[0].id
    if path.rsplit("/", 1)[-1] in SECRET_DIRS:
        return "secret-directory"
    return None


@check(
    id="DW512", title="Secret files copied into the image", severity=Severity.HIGH,
    scope=D, target_kind=DF,
    rationale="A key or credentials file copied in stays in its layer for everyone who can "
    "pull the image, even if a later step deletes it.",
    remediation="Use `RUN --mount=type=secret` (or ssh) for build-time credentials and add "
    "such files to .dockerignore.",
    bad=("FROM debian:12\nCOPY id_rsa /root/.ssh/id_rsa\n",
         "FROM node:22\nCOPY .npmrc .env ./\n"),
    good=("FROM debian:12\nCOPY app/ /app/\n",),
)
def secret_copy(df: DockerfileSnapshot) -> Iterator[Fail]:
    used = used_stages(df)
    for stage in df.stages:
        for inst in stage.instructions:
            if inst.cmd not in ("COPY", "ADD") or inst.heredocs or len(inst.args) < 2:
                continue
            files = [(s, r) for s in inst.args[:-1] if (r := secret_file(s)) is not None]
            if files:
                unused = stage.index not in used
                yield _fail(df, stage, inst, Severity.MEDIUM if unused else None,
                            "only in a stage the final image does not copy from"
                            if unused else "",
                            files=[s for s, _ in files[:10]],
                            rules=sorted({r for _, r in files}))


# --- DW513 ----------------------------------------------------------------------------

_APT_VALUE_OPTS = frozenset({"-o", "-t", "-c", "--target-release", "--option", "--config-file"})
_APK_VALUE_OPTS = frozenset({"-t", "--virtual", "-X", "--repository", "-p", "--root",
                             "--arch", "--cache-dir", "--keys-dir"})
_PIP_VALUE_OPTS = frozenset({
    "-r", "--requirement", "-c", "--constraint", "-e", "--editable", "-i", "--index-url",
    "--extra-index-url", "-f", "--find-links", "-t", "--target", "--prefix", "--root",
    "--trusted-host", "--platform", "--python-version", "--implementation", "--abi",
    "--upgrade-strategy", "--progress-bar", "--cache-dir", "--src", "--log", "--timeout",
    "--retries", "--proxy", "--cert", "--client-cert", "--exists-action", "--only-binary",
    "--no-binary", "--config-settings", "-C", "--report",
})
_NPM_VALUE_OPTS = frozenset({"--prefix", "--registry", "--cache", "--userconfig", "-C",
                             "--loglevel"})
PIP_SELF = frozenset({"pip", "setuptools", "wheel"})


def _operands(args: Argv, value_opts: frozenset[str]) -> list[str]:
    out: list[str] = []
    skip = False
    for a in args:
        if skip:
            skip = False
        elif a.startswith("-"):
            skip = a in value_opts
        else:
            out.append(a)
    return out


def _unknown(pkg: str) -> bool:
    return "$" in pkg or "/" in pkg or pkg.startswith(".") or pkg.endswith(
        (".deb", ".rpm", ".apk", ".whl", ".tar.gz", ".zip", ".tgz"))


def unpinned_packages(argv: Argv) -> tuple[str, list[str]]:
    """(manager, unpinned package names) of one install command."""
    argv = effective(argv)
    if not argv:
        return "", []
    tool = _name(argv[0])
    rest = argv[1:]
    if tool.startswith("python") and rest[:2] == ("-m", "pip"):
        tool, rest = "pip", rest[2:]
    if tool in ("apt-get", "apt") and "install" in rest:
        pkgs = _operands(rest[rest.index("install") + 1:], _APT_VALUE_OPTS)
        return "apt-get", [p for p in pkgs if "=" not in p and not _unknown(p)]
    if tool == "apk" and "add" in rest:
        pkgs = _operands(rest[rest.index("add") + 1:], _APK_VALUE_OPTS)
        return "apk", [p for p in pkgs if not re.search(r"[=<>~]", p) and not _unknown(p)]
    if re.fullmatch(r"pip[0-9.]*", tool) and "install" in rest:
        args = rest[rest.index("install") + 1:]
        if any(a in ("-c", "--constraint") or a.startswith("--constraint=") for a in args):
            return "pip", []
        pkgs = _operands(args, _PIP_VALUE_OPTS)
        return "pip", [p for p in pkgs if not re.search(r"==|@|://", p) and not _unknown(p)
                       and re.split(r"[\[<>!~=;]", p, maxsplit=1)[0].lower() not in PIP_SELF]
    if tool == "npm" and rest[:1] and rest[0] in ("install", "i", "add"):
        pkgs = _operands(rest[1:], _NPM_VALUE_OPTS)
        return "npm", [p for p in pkgs if "@" not in p.lstrip("@") and "$" not in p
                       and not p.startswith((".", "/")) and not p.endswith(".tgz")
                       and "://" not in p]
    return "", []


@check(
    id="DW513", title="Packages installed without pinned versions", severity=Severity.LOW,
    scope=D, target_kind=DF,
    rationale="Unpinned packages make builds unreproducible: a rebuild silently picks up "
    "whatever version the mirror serves that day.",
    remediation="Pin versions: `apt-get install pkg=1.2-1`, `apk add pkg=1.2-r0`, "
    "`pip install pkg==1.2` (or a lock/constraints file), `npm install -g pkg@1.2`.",
    references=("DL3008", "DL3013", "DL3016"),
    bad=("FROM debian:12\nRUN apt-get install -y curl\n",
         "FROM python:3.12\nRUN pip install requests\n",
         "FROM node:22\nRUN npm install -g typescript\n"),
    good=("FROM debian:12\nRUN apt-get install -y curl=7.88.1-10\n",
          "FROM python:3.12\nRUN pip install requests==2.32.3 -r requirements.txt\n",
          "FROM node:22\nRUN npm install -g typescript@5.6.2 && npm install\n"),
)
def unpinned(df: DockerfileSnapshot) -> Iterator[Fail]:
    for stage, inst in _runs(df):
        found: dict[str, list[str]] = {}
        for argv in inst.commands:
            manager, pkgs = unpinned_packages(argv)
            if pkgs:
                found.setdefault(manager, []).extend(pkgs)
        if found:
            yield _fail(df, stage, inst, packages={m: p[:20] for m, p in found.items()})


# --- supply chain: DW514-DW519 (and DW507's installer form) -----------------------------
#
# Which stages are judged (decided):
# - downloads, plain http, verification turned off, `curl | sh` (DW507, DW514-DW516): every
#   stage BuildKit builds for the final image (`built_stages`: the final chain, what it
#   copies from or mounts, transitively). A compromised build stage compromises what it
#   builds; a stage nothing needs is never built by BuildKit (the legacy builder built it).
# - fixed credentials, PermitRootLogin, NOPASSWD (DW517-DW519): the final chain only; they
#   matter in the image's own file system and config, which other stages never reach.
# - ADD of a URL: its integrity is DW504's (medium, low with --checksum), not DW514's.

_LOCAL_URL = re.compile(r"^[a-z]+://(?:[^/@]*@)?(?:localhost|127\.[0-9.]+|\[::1\])(?:[:/]|$)",
                        re.IGNORECASE)
_URL = re.compile(r"^(?:https?|ftp)://", re.IGNORECASE)
_PROOF_SUFFIXES = (".sha256", ".sha256sum", ".sha512", ".sha512sum", ".sha1", ".md5",
                   ".asc", ".sig", ".gpg", ".sign", ".minisig", ".pem", ".pub", ".key",
                   "sums", "sums.txt", "checksums.txt", "shasums", ".sha256.txt")
_SUMS = frozenset({"sha256sum", "sha512sum", "sha384sum", "sha224sum", "sha1sum",
                   "shasum", "md5sum", "b2sum", "sha3sum", "rhash"})
INSTALLERS = frozenset({"dpkg", "rpm", "gdebi", "apt", "apt-get", "yum", "dnf", "zypper",
                        "microdnf"})
INTERPRETERS = frozenset({"python", "python2", "python3", "perl", "ruby", "node", "php"})
_CURL_VALUE_OPTS = frozenset({"-o", "--output", "-H", "--header", "-u", "--user", "-A",
                              "-e", "-x", "-m", "-w", "-T", "-K", "-r", "-b", "-c", "-F",
                              "-d", "-X", "--request", "--retry", "--connect-timeout",
                              "--max-time", "--cacert", "--cert", "--key", "-C"})


def built_stages(df: DockerfileSnapshot) -> set[int]:
    """`used_stages` plus the stages a RUN mounts (`--mount=...,from=NAME`), transitively:
    the stages BuildKit builds for the final image."""
    seen = used_stages(df)
    todo = [df.stages[i] for i in seen]
    while todo:
        stage = todo.pop()
        for inst in stage.instructions:
            for f in inst.flags:
                if not f.startswith("--mount="):
                    continue
                for part in f[len("--mount="):].split(","):
                    key, _, value = part.partition("=")
                    src = df.stage_named(value) if key.strip() == "from" else None
                    if src is not None and src.index not in seen:
                        for extra in df.chain(src):
                            if extra.index not in seen:
                                seen.add(extra.index)
                                todo.append(extra)
    return seen


def _instructions_in(df: DockerfileSnapshot, stages: set[int]
                     ) -> Iterator[tuple[Stage, Instruction]]:
    for stage in df.stages:
        if stage.index in stages:
            for inst in stage.instructions:
                yield stage, inst


def _runs_in(df: DockerfileSnapshot, stages: set[int]) -> Iterator[tuple[Stage, Instruction]]:
    return ((stage, inst) for stage, inst in _instructions_in(df, stages) if inst.is_run)


def _final_runs(df: DockerfileSnapshot) -> Iterator[tuple[Stage, Instruction]]:
    return _runs_in(df, {s.index for s in df.final_chain()})


def run_text(inst: Instruction) -> str:
    """The RUN as written, with its heredoc bodies."""
    return "\n".join([inst.original, *(h.content for h in inst.heredocs)])


_SED_PATTERN = re.compile(r"\bs([/|#,@:])((?:\\.|(?!\1).)*)\1", re.DOTALL)


def _without_sed_patterns(text: str) -> str:
    """`s/OLD/NEW/` -> `s//NEW/`: what a sed substitution removes is not configuration."""
    return _SED_PATTERN.sub(lambda m: "s" + m.group(1) * 2, text)


def _downloads(argv: Argv) -> list[str]:
    """The URLs a curl/wget command fetches (none for HEAD requests, uploads, output to
    /dev/null, loopback addresses)."""
    argv = effective(argv)
    if not argv or _name(argv[0]) not in DOWNLOADERS:
        return []
    args = argv[1:]
    if any(a in ("-I", "--head", "--spider", "-d", "--data", "-F", "--form", "-T",
                 "--upload-file") or a.startswith(("--data", "--spider")) for a in args):
        return []
    for i, a in enumerate(args[:-1]):
        if a in ("-o", "-O", "--output", "--output-document") and args[i + 1] == "/dev/null":
            return []
        if a in ("-X", "--request") and args[i + 1].upper() not in ("GET", "HEAD"):
            return []
    return [a for a in args if _URL.match(a) and not _LOCAL_URL.match(a)]


def _is_proof(url: str) -> bool:
    path = url.split("?", 1)[0].lower()
    return path.endswith(_PROOF_SUFFIXES)


def verifies(argv: Argv) -> bool:
    """A command that checks a checksum or a signature: `sha256sum -c`, `gpg --verify`,
    `gpgv`, `cosign verify`, `minisign -V`, `--checksum=...`, or a `[ "$(sha256sum f)" =
    ... ]` comparison."""
    argv = effective(argv)
    if not argv:
        return False
    tool, args = _name(argv[0]), argv[1:]
    if any(a.startswith("--checksum") for a in args):
        return True
    if tool in _SUMS:
        return any(a in ("-c", "--check") or (a.startswith("-") and not a.startswith("--")
                                                and "c" in a[1:]) for a in args)
    if tool in ("gpg", "gpg2"):
        return any(a in ("--verify", "--verify-files") for a in args)
    if tool in ("gpgv", "gpgv2"):
        return True
    if tool == "cosign":
        return bool(args) and args[0].startswith("verify")
    if tool in ("minisign", "signify"):
        return "-V" in args
    if tool == "rpm":
        return any(a in ("-K", "--checksig") for a in args)
    if tool == "openssl":
        return "-verify" in args
    if tool in ("[", "[[", "test"):
        return any(s in w for w in args for s in _SUMS)
    return False


def _last_verify(commands: tuple[Argv, ...]) -> int:
    """The index of the RUN's last verifying command (`verifies`), -1 if none."""
    return max((i for i, a in enumerate(commands) if verifies(a)), default=-1)


def _fetched_files(argv: Argv) -> list[str]:
    """Base names of the files a curl/wget command writes."""
    argv = effective(argv)
    urls = _downloads(argv)
    if not urls:
        return []
    tool, args = _name(argv[0]), argv[1:]
    out: list[str] = []
    for i, a in enumerate(args):
        nxt = args[i + 1] if i + 1 < len(args) else ""
        if (tool, a) in (("curl", "-o"), ("curl", "--output"), ("wget", "-O"),
                         ("wget", "--output-document")) and nxt:
            out.append(nxt)
        elif tool == "curl" and a.startswith("-") and not a.startswith("--") and \
                a.endswith("o") and nxt and a not in _CURL_VALUE_OPTS:
            out.append(nxt)  # -fsSLo FILE
    if tool == "wget" or "-O" in args or "--remote-name" in args or any(
            a.startswith("-") and not a.startswith("--") and "O" in a for a in args):
        out.extend(u.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] for u in urls)
    return [_name(f) for f in out if f and f != "-"]


def _installed_files(argv: Argv) -> list[str]:
    """Package files an installer is given (`dpkg -i x.deb`, `apt-get install ./x.deb`,
    `rpm -i x.rpm`, `yum install x.rpm`), as written."""
    argv = effective(argv)
    if not argv or _name(argv[0]) not in INSTALLERS:
        return []
    tool, args = _name(argv[0]), argv[1:]
    if tool == "dpkg" and not any(a == "--install" or re.fullmatch(r"-[a-zA-Z]*i[a-zA-Z]*", a)
                                  for a in args):
        return []
    if tool == "rpm" and not any(re.fullmatch(r"-[a-zA-Z]*[iU][a-zA-Z]*", a)
                                 or a in ("--install", "--upgrade") for a in args):
        return []
    if tool not in ("dpkg", "rpm", "gdebi") and not {"install", "localinstall", "in"} & set(args):
        return []
    return [a for a in args if not a.startswith("-")
            and (a.lower().endswith((".deb", ".rpm")) or _URL.match(a))]


def _matches_fetched(target: str, fetched: set[str]) -> bool:
    import fnmatch

    if _URL.match(target):
        return True  # rpm/yum fetch the URL themselves
    name = _name(target)
    return name in fetched or ("*" in name and any(fnmatch.fnmatch(f, name) for f in fetched))


def _runs_fetched(argv: Argv, fetched: set[str]) -> str | None:
    """`sh i.sh`, `bash ./i.sh`, `./i.sh` of a fetched file: its name."""
    argv = effective(argv)
    if not argv:
        return None
    tool = _name(argv[0])
    if tool in SHELLS:
        operands = [a for a in argv[1:] if not a.startswith("-")]
        if operands and "-c" not in argv and _name(operands[0]) in fetched:
            return operands[0]
        return None
    if "/" in argv[0] and tool in fetched:
        return argv[0]
    return None


def _reads_stdin_script(tool: str, argv: Argv) -> bool:
    """A shell, or an interpreter without -c/-e, that runs what it reads on stdin."""
    if tool in SHELLS:
        return "-c" not in argv
    return re.sub(r"[0-9.]+$", "", tool) in INTERPRETERS and not any(
        a.startswith("-") and ("c" in a or "e" in a) for a in argv[1:])


def _pipe_to_shell(pipe: Pipeline) -> bool:
    fetched = False
    for argv in (effective(a) for a in pipe):
        if not argv:
            continue
        tool = _name(argv[0])
        if tool in DOWNLOADERS:
            fetched = True
        elif fetched and _reads_stdin_script(tool, argv):
            return True
    return False


def _curl_insecure(argv: Argv) -> list[str]:
    argv = effective(argv)
    if not argv or _name(argv[0]) != "curl":
        return []
    return [a for a in argv[1:] if a == "--insecure"
            or re.fullmatch(r"-[a-zA-Z]*k[a-zA-Z]*", a)]


# Cheap prefilters (lower case): the regexes below run only on texts holding one of these.
_INSECURE_WORDS = ("no-check-certificate", "allow-unauthenticated", "force-yes",
                   "allow-insecure", "trusted-host", "nogpgcheck", "no-gpg-checks",
                   "allow-untrusted", "insecure-skip", "nosignature", "trusted=yes",
                   "check-valid-until", "allowunauthenticated", "allowinsecurerepositories",
                   "verify-peer", "verify-host", "git_ssl_no_verify", "node_tls_reject",
                   "pip_trusted_host", "strict-ssl", "sslverify", "gpgcheck")


def _mentions(text: str, words: tuple[str, ...]) -> bool:
    low = text.lower()
    return any(w in low for w in words)


_INSECURE_TEXT = re.compile(r"""
    (?<![\w-])--(?:no-check-certificate|allow-unauthenticated|force-yes
        |allow-insecure-repositories|trusted-host|nogpgcheck|no-gpg-checks|allow-untrusted
        |insecure-skip-tls-verify|nosignature)\b
  | \[[^\]\n]*\btrusted=yes\b[^\]\n]*\]
  | \b(?:Acquire::)?Check-Valid-Until["']?[ \t=:]+["']?(?:false|no|0)\b
  | \bAPT::Get::AllowUnauthenticated["']?[ \t=]+["']?(?:true|yes|1)\b
  | \bAcquire::AllowInsecureRepositories["']?[ \t=]+["']?(?:true|yes|1)\b
  | \bVerify-(?:Peer|Host)["']?[ \t=]+["']?(?:false|no|0)\b
  | \bGIT_SSL_NO_VERIFY=["']?(?:1|true|yes|on)\b
  | \bNODE_TLS_REJECT_UNAUTHORIZED=["']?0\b
  | \bPIP_TRUSTED_HOST=\S
  | \bstrict-ssl["']?(?:[ \t]+|[ \t]*=[ \t]*)["']?false\b
  | \bhttp\.sslVerify["']?(?:[ \t]+|[ \t]*=[ \t]*)["']?(?:false|no|0)\b
  | \bgpgcheck[ \t]*=[ \t]*0\b
  | \bsslverify[ \t]*=[ \t]*(?:0|false|no)\b
""", re.VERBOSE | re.IGNORECASE)


@check(
    id="DW514", title="Remote download without an integrity check",
    severity=Severity.MEDIUM, scope=D, target_kind=DF,
    rationale="A file fetched with curl/wget and used without checking a checksum or a "
    "signature is whatever the server, a mirror or anyone on the path serves that day; TLS "
    "proves only who answered, not what was published.",
    remediation="Pin the expected digest and verify it in the same RUN: `curl -fsSLo f URL "
    "&& echo \"SHA256  f\" | sha256sum -c -` (or `gpg --verify`); for ADD use --checksum.",
    references=("https://docs.docker.com/reference/dockerfile/#add---checksum",),
    bad=("FROM debian:12\nRUN curl -fsSL https://x.example/t.tgz | tar xz -C /opt\n",
         "FROM debian:12\nRUN wget https://x.example/t.tgz && tar xf t.tgz\n"),
    good=("FROM debian:12\nRUN curl -fsSLo t.tgz https://x.example/t.tgz \\\n"
          " && echo \"" + "0" * 64 + "  t.tgz\" | sha256sum -c - && tar xf t.tgz\n",),
)
def unverified_download(df: DockerfileSnapshot) -> Iterator[Fail]:
    """A download counts as verified when a verifying command (`verifies`) follows it in
    the same RUN; downloads of checksum or signature files themselves are not judged."""
    for stage, inst in _runs_in(df, built_stages(df)):
        cmds = inst.commands
        last_verify = _last_verify(cmds)
        urls = [u for i, a in enumerate(cmds) if i > last_verify
                for u in _downloads(a) if not _is_proof(u)]
        if urls:
            yield _fail(df, stage, inst, urls=[_shown(u) for u in dict.fromkeys(urls)][:10])


@check(
    id="DW515", title="Download over plain http", severity=Severity.MEDIUM, scope=D,
    target_kind=DF,
    rationale="Anything fetched over http (or ftp) can be read and replaced by anyone on the "
    "path; unverified, it becomes part of the image.",
    remediation="Use https:// (and verify a checksum or signature of what arrives).",
    bad=("FROM debian:12\nRUN curl -fsSLo /a.deb http://x.example/a.deb\n",
         "FROM debian:12\nADD http://x.example/a.tgz /a.tgz\n"),
    good=("FROM debian:12\nRUN curl -fsSLo /a.deb https://x.example/a.deb\n",
          "FROM debian:12\nRUN curl -fsS http://localhost:8080/health\n"),
)
def plain_http(df: DockerfileSnapshot) -> Iterator[Fail]:
    """Medium; low when the same RUN verifies a checksum or signature afterwards (the
    content is then checked, only its confidentiality is lost)."""
    for stage, inst in _instructions_in(df, built_stages(df)):
        if inst.cmd == "ADD":
            urls = [s for s in _add_sources(inst) if s.lower().startswith(("http://",
                                                                             "ftp://"))
                    and not _LOCAL_URL.match(s)]
            verified = inst.flag("checksum") is not None
        elif inst.is_run:
            cmds = inst.commands
            last_verify = _last_verify(cmds)
            plain = [(i, u) for i, a in enumerate(cmds) for u in _downloads(a)
                     if u.lower().startswith(("http://", "ftp://"))]
            urls = [u for _, u in plain]
            verified = bool(plain) and all(i < last_verify for i, _ in plain)
        else:
            continue
        if urls:
            yield _fail(df, stage, inst, Severity.LOW if verified else None,
                        urls=[_shown(u) for u in dict.fromkeys(urls)][:10],
                        verified=verified)


@check(
    id="DW516", title="TLS or signature verification turned off", severity=Severity.HIGH,
    scope=D, target_kind=DF,
    rationale="Turning off certificate checks (curl -k, wget --no-check-certificate, pip "
    "--trusted-host, npm strict-ssl false, GIT_SSL_NO_VERIFY) or package signature checks "
    "(apt [trusted=yes], --allow-unauthenticated, --force-yes, Check-Valid-Until=false, "
    "gpgcheck=0) lets anyone on the path serve the build its code.",
    remediation="Remove the option; install the CA the server needs (COPY the certificate "
    "and update-ca-certificates), import the repository's signing key with its fingerprint.",
    bad=("FROM debian:12\nRUN curl -kfsSLo a.tgz https://x.example/a.tgz\n",
         "FROM debian:12\nRUN echo 'deb [trusted=yes] https://x.example/ ./' "
         "> /etc/apt/sources.list.d/x.list\n",
         "FROM debian:12\nRUN apt-get install -y --allow-unauthenticated x\n",
         "FROM python:3.12\nRUN pip install --trusted-host pypi.example x==1\n",
         "FROM debian:12\nENV GIT_SSL_NO_VERIFY=1\n"),
    good=("FROM debian:12\nRUN curl -fsSLo a.tgz https://x.example/a.tgz\n",),
)
def verification_off(df: DockerfileSnapshot) -> Iterator[Fail]:
    for stage, inst in _instructions_in(df, built_stages(df)):
        if inst.is_run:
            text = run_text(inst)
            text = _without_sed_patterns(text) if _mentions(text, _INSECURE_WORDS) else ""
            words = [w for a in inst.commands for w in _curl_insecure(a)]
        elif inst.cmd == "ENV":
            text = " ".join(f"{inst.args[i]}={inst.args[i + 1]}"
                            for i in range(0, len(inst.args) - 1, 2))
            words = []
        else:
            continue
        if _mentions(text, _INSECURE_WORDS):
            words += [" ".join(m.group(0).split()) for m in _INSECURE_TEXT.finditer(text)]
        if words:
            yield _fail(df, stage, inst,
                        words=[_shown(w) for w in dict.fromkeys(words)][:10])


@check(
    id="DW517", title="Fixed credentials set in RUN", severity=Severity.HIGH, scope=D,
    target_kind=DF,
    rationale="A password written into a RUN (chpasswd, passwd, useradd -p, SQL IDENTIFIED "
    "BY / PASSWORD('...'), X_PASSWORD=...) is the same in every container of the image and "
    "readable by everyone who can read the Dockerfile or the image history.",
    remediation="Set credentials at run time from the orchestrator's secrets (or "
    "`RUN --mount=type=secret` at build time); lock accounts that need no password.",
    references=("CWE-798",),
    bad=("FROM debian:12\nRUN echo 'root:hunter2' | chpasswd\n",
         "FROM mysql:8\nRUN mysql -e \"CREATE USER 'a'@'%' IDENTIFIED BY 'pw123456'\"\n",
         "FROM python:3.12\nRUN PGADMIN_SETUP_PASSWORD=admin123 python setup.py\n"),
    good=("FROM debian:12\nRUN --mount=type=secret,id=pw echo \"root:$(cat /run/secrets/pw)\""
          " | chpasswd\n", "FROM debian:12\nRUN passwd -l root\n"),
)
def fixed_credential(df: DockerfileSnapshot) -> Iterator[Fail]:
    for stage, inst in _final_runs(df):
        found = secrets.fixed_credentials(run_text(inst))
        if found:
            yield _fail(df, stage, inst, words=list(dict.fromkeys(c.what for c in found))[:10])


def _writes(df: DockerfileSnapshot, pattern: re.Pattern[str], word: str) -> Iterator[Fail]:
    """DW518/DW519: each RUN of the image that writes `pattern` (not in what a sed
    substitution replaces), its first match as evidence. `word` is a cheap prefilter,
    looked for in lower case when `pattern` ignores case."""
    for stage, inst in _final_runs(df):
        text = run_text(inst)
        if word not in (text.lower() if pattern.flags & re.IGNORECASE else text):
            continue
        hits = pattern.findall(_without_sed_patterns(text))
        if hits:
            yield _fail(df, stage, inst, words=[" ".join(hits[0].split())])


_ROOT_LOGIN = re.compile(r"\bPermitRootLogin[\"']?[ \t=]+[\"']?yes\b", re.IGNORECASE)
_NOPASSWD = re.compile(r"[^\n\"'>|;&]{0,60}\bNOPASSWD[ \t]*:[^\n\"'>|;&]{0,60}")


@check(
    id="DW518", title="Remote root login enabled (PermitRootLogin yes)",
    severity=Severity.MEDIUM, scope=D, target_kind=DF,
    rationale="An sshd configured with `PermitRootLogin yes` accepts root logins with a "
    "password: one guessed or fixed password is root in the container.",
    remediation="Do not run sshd in the container (use docker exec); if it must run, set "
    "`PermitRootLogin no` and key-only authentication for an unprivileged user.",
    references=("DS004",),
    bad=("FROM debian:12\nRUN sed -i 's/#PermitRootLogin prohibit-password/PermitRootLogin "
         "yes/' /etc/ssh/sshd_config\n",
         "FROM debian:12\nRUN echo 'PermitRootLogin yes' >> /etc/ssh/sshd_config\n"),
    good=("FROM debian:12\nRUN sed -i 's/PermitRootLogin yes/PermitRootLogin no/' "
          "/etc/ssh/sshd_config\n",),
)
def root_login(df: DockerfileSnapshot) -> Iterator[Fail]:
    return _writes(df, _ROOT_LOGIN, "permitrootlogin")


@check(
    id="DW519", title="Passwordless sudo (NOPASSWD)", severity=Severity.MEDIUM, scope=D,
    target_kind=DF,
    rationale="A sudoers NOPASSWD rule lets the runtime user become root without any "
    "secret: USER is then no boundary at all.",
    remediation="Do not install sudo rules in the image; run the steps that need root "
    "before USER.",
    references=("DL3004",),
    bad=("FROM debian:12\nRUN echo 'app ALL=(ALL) NOPASSWD: ALL' >> /etc/sudoers\n",),
    good=("FROM debian:12\nRUN useradd -m app\nUSER app\n",),
)
def nopasswd_sudo(df: DockerfileSnapshot) -> Iterator[Fail]:
    return _writes(df, _NOPASSWD, "NOPASSWD")
