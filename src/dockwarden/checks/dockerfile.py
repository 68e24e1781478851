"""DW501-DW513: one Dockerfile, judged from its parsed stages (pure; no I/O).

Each check is `f(df: DockerfileSnapshot) -> Iterator[Fail]`, run by the registry's
`run(checks, (df,), target, Source.DOCKERFILE, lines=line_map(df))`.

Line convention: every `Fail` carries the offending instruction's start line twice: in
its evidence as `"line": n`, and as `field=f"line:{n}"`, which the runner looks up in
`lines` to set `target.line`. `line_map(df)` builds that map (`{"line:n": n}` for every
instruction line); the CLI and the tests pass it. When the file has several stages the
evidence also holds `"stage"` (its name, else its index). Evidence shows instructions
with secrets redacted (`secrets.redact_command`) and cut to 200 characters.

Stage awareness: "the image" is the final stage plus the stages it is built `FROM`
(`final_chain`); DW501, DW509 and DW510 look only there. DW512 is high in a stage whose
files can reach the final image (the chain, or a stage it `COPY --from`s, transitively)
and medium in a stage nothing copies from.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from dockwarden import secrets
from dockwarden.checks.common import is_moving_ref, is_root_user
from dockwarden.checks.registry import CIS_BENCHMARK, CIS_CONTROLS, Fail, Scope, check
from dockwarden.model.common import Severity, TargetKind
from dockwarden.model.dockerfile import Argv, DockerfileSnapshot, Instruction, Stage

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
    return secrets.redact_command(text)[:200]


def _fail(df: DockerfileSnapshot, stage: Stage, inst: Instruction, severity: Severity | None
          = None, message: str = "", **evidence: Any) -> Fail:
    ev: dict[str, Any] = {"line": inst.line, "instruction": _shown(inst.original)}
    if len(df.stages) > 1:
        ev["stage"] = stage.label
    ev.update(evidence)
    return Fail(ev, severity=severity, message=message, field=f"line:{inst.line}")


def final_chain(df: DockerfileSnapshot) -> list[Stage]:
    """The final stage and the earlier stages it is built FROM, final first."""
    return list(df.final_chain())


def _base(df: DockerfileSnapshot, stage: Stage) -> Stage | None:
    return df.base_stage(stage)


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
        base = _base(df, stage)
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
        if is_root_user(last.args[0]):
            yield _fail(df, stage, last, user=last.args[0], user_source="USER")
        return
    chain = final_chain(df)
    final, base = chain[0], chain[-1].base_resolved
    known = df.base_user if df.base_user is not None and df.base_user.image == base else None
    if base.lower() == "scratch":
        yield _fail(df, final, final.instructions[0], user=None, base=base,
                    user_source="scratch",
                    message="no USER instruction and FROM scratch: the container runs as root")
    elif known is not None and known.user is not None:
        if not known.user or is_root_user(known.user):
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
        if image.lower() == "scratch" or _base(df, stage) is not None:
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


def _secret_name(name: str) -> bool:
    return bool(secrets.SECRET_NAME.search(name) and not secrets.NOT_SECRET_NAME.search(name)
                and name.upper() not in secrets.SHELL_DIRS)


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
                if name in hit_names or not _secret_name(name):
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
    for stage, inst in _runs(df):
        calls = [(_sub(a), a) for a in inst.commands]
        tools = {(t, s) for (t, s), _ in calls}
        words = " ".join(w for a in inst.commands for w in a)
        reasons: list[str] = []
        apt = {("apt-get", "update"), ("apt", "update")} & tools
        apt_install = {("apt-get", "install"), ("apt", "install")} & tools
        if apt and not apt_install:
            reasons.append("apt-get update without an install in the same RUN")
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
    "unverified, at build time.",
    remediation="Download to a file, verify its checksum or signature, then run it.",
    bad=("FROM debian:12\nRUN curl -fsSL https://get.example.com | sh\n",
         "FROM debian:12\nRUN bash -c \"$(curl -fsSL https://x.example.com/i.sh)\"\n"),
    good=("FROM debian:12\nRUN curl -fsSLo i.sh https://x.example.com/i.sh "
          "&& sha256sum -c i.sh.sha256 && sh i.sh\n",),
)
def curl_pipe_shell(df: DockerfileSnapshot) -> Iterator[Fail]:
    for stage, inst in _runs(df):
        for pipe in inst.pipes:
            argvs = [effective(a) for a in pipe]
            fetched = False
            hit = ""
            for argv in argvs:
                if not argv:
                    continue
                tool = _name(argv[0])
                if tool in DOWNLOADERS:
                    fetched = True
                elif fetched and tool in SHELLS:
                    hit = "pipe"
                if tool in SHELLS and any(_FETCH_SUBST.search(w) for w in argv[1:]):
                    hit = "substitution"
                if hit:
                    break
            if hit:
                yield _fail(df, stage, inst, form=hit,
                            command=_shown(" | ".join(" ".join(a) for a in pipe)))
                break


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
    for stage in final_chain(df):
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
    for stage in final_chain(df):
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
