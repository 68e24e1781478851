"""Snapshot of one Dockerfile: its build stages and their instructions, as parsed by
Docker's own (BuildKit) parser, with `RUN` bodies already split into shell commands so
that the DW5xx checks stay pure. Built by `dockwarden.collect.dockerfile`.

Linear on hostile input: a Dockerfile may have 20,000 stages, so `stage_named` is a
dictionary look-up (not a scan of every stage) and a `Stage` compares by identity (a
stage is one place in one file; comparing two by value would compare every instruction,
which made `stage in chain` cost the size of the file)."""

from __future__ import annotations

from dataclasses import dataclass, field

Argv = tuple[str, ...]
Pipeline = tuple[Argv, ...]  # `curl x | sh` is one pipeline of two argv


@dataclass(frozen=True, slots=True)
class Heredoc:
    name: str  # the delimiter word (`EOF`)
    content: str
    fd: int = 0


@dataclass(frozen=True, slots=True)
class Instruction:
    """One instruction as BuildKit reads it.

    `args` are the parser's values: shell form RUN/CMD has one string (continuations
    joined), JSON form the list items, ENV `(name, value, name, value...)` with quotes
    as written, ARG `NAME=value` items. `line`/`end_line` are 1-based and span the
    continuations and heredoc bodies. `sub_cmd` is the wrapped instruction of ONBUILD.

    For RUN (and ONBUILD RUN) `pipes` holds the shell commands of the body, each
    pipeline a tuple of argv (simple commands joined by `&&`, `;`, `||` and newlines are
    separate pipelines; commands inside `$(...)` appear as pipelines of their own);
    `commands` is the same flattened. `shell_parser` says how: "bashlex", "shlex" (the
    fallback), "json" (exec form) or "" (not parsed: not a RUN, or a non-POSIX SHELL).
    """

    cmd: str  # upper case: RUN, COPY...
    args: tuple[str, ...]
    original: str
    line: int
    end_line: int
    flags: tuple[str, ...] = ()
    json_form: bool = False
    heredocs: tuple[Heredoc, ...] = ()
    sub_cmd: str | None = None
    pipes: tuple[Pipeline, ...] = ()
    commands: tuple[Argv, ...] = ()
    shell_parser: str = ""

    def flag(self, name: str) -> str | None:
        """The value of `--name=value` (or "" for a bare `--name`), None if absent."""
        for f in self.flags:
            key, sep, value = f.partition("=")
            if key.lstrip("-").lower() == name:
                return value if sep else ""
        return None

    @property
    def is_run(self) -> bool:
        return self.cmd == "RUN" or (self.cmd == "ONBUILD" and self.sub_cmd == "RUN")


@dataclass(frozen=True, slots=True, eq=False)
class Stage:
    """A build stage: its FROM (`instructions[0]`) and what follows up to the next FROM.

    `base_image` is the image as written, `base_resolved` with the global ARG defaults
    substituted (still holding `$` where an ARG had no default). `name` is lower case
    (stage names are case-insensitive), None when the stage has no `AS name`."""

    index: int
    name: str | None
    base_image: str
    base_resolved: str
    instructions: tuple[Instruction, ...]

    @property
    def line(self) -> int:
        return self.instructions[0].line

    @property
    def label(self) -> str:
        return self.name if self.name is not None else str(self.index)


@dataclass(frozen=True, slots=True)
class BaseUser:
    """The configured user of the image the final stage is built on (its `Config.User`,
    "" meaning root), as far as it could be learnt: `user` is None when unknown, and
    `source` says how it was learnt ("engine", "registry", "scratch") or, when unknown,
    `reason` says why (shown in DW501's evidence)."""

    image: str
    user: str | None
    source: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class DockerfileSnapshot:
    path: str
    stages: tuple[Stage, ...]
    global_args: tuple[Instruction, ...] = ()  # ARGs before the first FROM
    # The user of the final chain's external base image, when the collector looked it up
    # (`collect.dockerfile.BaseUserResolver`); None when nobody looked.
    base_user: BaseUser | None = None
    # Lower-case stage name -> the first stage of that name (built once, see the module doc).
    _by_name: dict[str, Stage] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name: dict[str, Stage] = {}
        for stage in self.stages:
            if stage.name is not None:
                by_name.setdefault(stage.name, stage)
        object.__setattr__(self, "_by_name", by_name)

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def base_stage(self, stage: Stage) -> Stage | None:
        """The earlier stage `stage` is built FROM, or None for an image."""
        parent = self.stage_named(stage.base_resolved, by_index=False)
        return parent if parent is not None and parent.index < stage.index else None

    def chain(self, stage: Stage) -> tuple[Stage, ...]:
        """`stage` and the earlier stages it is built FROM, `stage` first: the stages whose
        file system and config an image built up to `stage` (`--target`) has."""
        chain = [stage]
        # base_stage only returns an earlier stage (a lower index): the walk always ends
        while (parent := self.base_stage(chain[-1])) is not None:
            chain.append(parent)
        return tuple(chain)

    def final_chain(self) -> tuple[Stage, ...]:
        """The final stage and the earlier stages it is built FROM, final first: the
        stages whose file system and config are the image's."""
        return self.chain(self.final)

    def external_base_of(self, stage: Stage) -> str:
        """The image `stage`'s chain starts from (as resolved: may hold `$`)."""
        return self.chain(stage)[-1].base_resolved

    @property
    def external_base(self) -> str:
        """The image the final chain starts from (as resolved: may hold `$`)."""
        return self.external_base_of(self.final)

    def user_of(self, stage: Stage) -> tuple[Stage, Instruction] | None:
        """The last USER instruction of `stage`'s chain (`stage`'s own, else the stage it
        builds on...), or None when the image's user is its base image's.

        A bare `USER` (no argument) is returned like any other: Docker refuses to build
        the file ("USER requires exactly one argument"), so no earlier USER is the
        image's and callers say the user is unknown (`args` is empty). The one place
        this is decided: DW501 (checks/dockerfile.py) and the user of a compose service
        built from a Dockerfile (collect/compose.py) both ask here."""
        for link in self.chain(stage):
            for inst in reversed(link.instructions):
                if inst.cmd == "USER":
                    return link, inst
        return None

    def final_user(self) -> tuple[Stage, Instruction] | None:
        """`user_of` the final stage: the user the image runs as, when the file sets it."""
        return self.user_of(self.final)

    def stage_named(self, ref: str, *, by_index: bool = True) -> Stage | None:
        """The stage `ref` names: a name (case-insensitive) or, for `COPY --from`, an
        index. `FROM` takes names only (`by_index=False`): `FROM 0` is an image called
        `0` for both of Docker's builders."""
        low = ref.lower()
        named = self._by_name.get(low)
        if by_index and low.isascii() and low.isdigit():  # Go's Atoi: ASCII digits only
            number = int(low)
            if number < len(self.stages) and (named is None or number < named.index):
                return self.stages[number]  # the earlier of the two, as a scan would find
        return named

    def lines(self) -> tuple[int, ...]:
        """Every instruction's start line (for the runner's `lines` map)."""
        out = [i.line for i in self.global_args]
        out += [i.line for s in self.stages for i in s.instructions]
        return tuple(out)
