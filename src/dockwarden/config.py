"""The configuration file of the auditing commands.

Where it is read from: `--config FILE`; else `.dockwarden.yaml` in the current directory;
else `$XDG_CONFIG_HOME/dockwarden/config.yaml` (`~/.config/dockwarden/config.yaml` when
XDG_CONFIG_HOME is unset). Only the first one found is read; `--no-config` reads none.

What it holds (a YAML mapping):

```yaml
fail-on: critical          # any long option, without its dashes (`fail_on` also works)
format: json
skip: [DW227, DW228]       # a list, or a comma-separated string, for repeatable options
quiet: true                # a switch: true or false
ignore: accepted.yaml      # paths are relative to the file's own directory
profile: cis               # the CIS benchmark profile (`--profile cis`)
severity-overrides:        # per-check severity, applied before --fail-on and ignores
  DW214: high
  DW228: info
disable: [DW234, DW3]      # checks never run (ids or prefixes), whatever --check says
```

Precedence: the command line, then the file, then the built-in defaults. The file's
values become the parser's defaults before the command line is parsed, each converted by
the option's own type (so a bad value is a usage error naming the key); a repeatable
option given on the command line replaces the file's list rather than adding to it. A key
that is an option of another command (`workers` for `dockerfile`) is left alone; a key of
no command is an error naming the close matches. `profile` always means the CIS profile
(`--benchmark` of `compose`, whose own `--profile` names compose profiles).

The file is read through `safeio.read_text` (regular file, 256 KiB at most) and loaded
by PyYAML's pure-Python safe loader with aliases refused (no entity expansion) and dates
left as text; its depth is bounded by Python's recursion limit (see `ignore.py` on why
libyaml's C composer is not used for deeply nested input).
"""

from __future__ import annotations

import argparse
import functools
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from dockwarden.errors import InputError, UsageError
from dockwarden.model.common import Severity
from dockwarden.sanitize import clean

MAX_BYTES = 256 << 10
LOCAL_NAME = ".dockwarden.yaml"
OVERRIDES = "severity-overrides"
DISABLE = "disable"
# keys that are not an option of a command
SPECIAL = frozenset({OVERRIDES, DISABLE})
# config keys that name an option under another name
ALIASES = {"profile": "benchmark"}
# options a config file cannot set
REFUSED = frozenset({"config", "no-config", "help", "version"})
# options whose values are paths: relative ones are taken from the file's directory
PATH_METAVARS = frozenset({"FILE", "PATH", "DIR"})


class Config:
    """A config file's content: options by their normalised key (raw values), severity
    overrides and the `disable` list. (A plain class: a dataclass costs every start of
    an auditing command a millisecond to build.)"""

    __slots__ = ("disable", "options", "path", "severity_overrides")

    def __init__(self, path: str) -> None:
        self.path = path
        self.options: dict[str, Any] = {}
        self.severity_overrides: dict[str, Severity] = {}
        self.disable: tuple[str, ...] = ()


def user_path() -> str:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"),
                                                               ".config")
    return os.path.join(base, "dockwarden", "config.yaml")


def find(explicit: str | None) -> str | None:
    """The config file to read: `explicit`, else the local one, else the user's one."""
    if explicit:
        return explicit
    for path in (LOCAL_NAME, user_path()):
        if os.path.lexists(path):  # a FIFO or a folder there is refused when read
            return path
    return None


@functools.cache
def _loader() -> Any:
    """The safe loader without aliases and with dates left as text, shared with the ignore
    file (PyYAML is imported only when a config file exists: a Dockerfile lint never
    loads it)."""
    from dockwarden.ignore import no_alias_loader

    return no_alias_loader("a config file")


def _close(word: str, choices: Iterable[str], n: int = 3, cutoff: float = 0.5) -> list[str]:
    import difflib

    return difflib.get_close_matches(word, list(choices), n=n, cutoff=cutoff)


def normalise(key: str) -> str:
    return key.strip().lstrip("-").lower().replace("_", "-")


def load(path: str) -> Config:
    """Read and shape-check the config file (ids in overrides and `disable` are checked
    against the catalogue). Problems are InputErrors (exit 2) naming the file."""
    from dockwarden.ignore import load_yaml
    from dockwarden.safeio import read_text

    origin = f"config {clean(path)}"
    text = read_text(path, what="config file", max_bytes=MAX_BYTES)
    data = load_yaml(text, _loader(), origin)  # a safe loader, aliases refused
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"{origin}: expected a mapping of option names to values")
    cfg = Config(path)
    for raw, value in data.items():
        if not isinstance(raw, str) or not normalise(raw):
            raise InputError(f"{origin}: key '{clean(str(raw))}' is not an option name")
        name = normalise(raw)
        if name in cfg.options or (name == OVERRIDES and cfg.severity_overrides) \
                or (name == DISABLE and cfg.disable):
            raise InputError(f"{origin}: {clean(raw)} is given twice")
        if name in REFUSED:
            raise InputError(f"{origin}: {clean(raw)} cannot be set in a config file")
        if name == OVERRIDES:
            cfg.severity_overrides = _overrides(origin, value)
        elif name == DISABLE:
            cfg.disable = _disable(origin, value)
        else:
            cfg.options[ALIASES.get(name, name)] = value
    return cfg


def _catalogue_ids() -> list[str]:
    from dockwarden.checks import iter_catalogue

    return [m.id for m in iter_catalogue()]


def _id_hint(word: str, ids: list[str]) -> str:
    """The hint of an unknown check id: the close ids, else where the ids are listed."""
    close = _close(word, ids, n=3, cutoff=0.5)
    return f"did you mean {', '.join(close)}?" if close else "see `dockwarden checks` for the ids"


def _overrides(origin: str, value: Any) -> dict[str, Severity]:
    if not isinstance(value, dict):
        raise InputError(f"{origin}: {OVERRIDES} must map check ids to severities "
                         "(e.g. DW214: high)")
    ids = _catalogue_ids()
    out: dict[str, Severity] = {}
    for check, sev in value.items():
        cid = str(check).strip().upper()
        if cid not in ids:
            raise InputError(f"{origin}: {OVERRIDES}: {clean(str(check))} is not a check id",
                             _id_hint(cid, ids))
        if not isinstance(sev, str):
            raise InputError(f"{origin}: {OVERRIDES}: {cid}: not a severity")
        try:
            out[cid] = Severity.parse(sev, allow_unknown=False)
        except ValueError as exc:
            raise InputError(f"{origin}: {OVERRIDES}: {cid}: {clean(str(exc))}") from None
    return out


def _disable(origin: str, value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise InputError(f"{origin}: {DISABLE} must be a list of check ids or prefixes")
    wanted = tuple(i.strip().upper() for i in items if i.strip())
    ids = _catalogue_ids()
    for w in wanted:
        if not any(i.startswith(w) for i in ids):
            raise InputError(f"{origin}: {DISABLE}: {clean(w)}: no such check id or prefix",
                             _id_hint(w, ids))
    return wanted


def option_names(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """The parser's long options by their config key (`--fail-on` -> `fail-on`)."""
    out: dict[str, argparse.Action] = {}
    for action in parser._actions:
        for opt in action.option_strings:
            if opt.startswith("--"):
                out[opt[2:]] = action
    return out


def apply(parser: argparse.ArgumentParser, cfg: Config,
          all_names: Callable[[], Iterable[str]]) -> dict[str, Any]:
    """Set the config file's values as `parser`'s defaults (converted and checked as the
    command line would be); returns the defaults set. `all_names` gives every command's
    config keys (asked only when a key is not one of this command's)."""
    origin = f"config {clean(cfg.path)}"
    actions = option_names(parser)
    base = os.path.dirname(cfg.path)
    defaults: dict[str, Any] = {}
    every: set[str] | None = None
    for name, value in cfg.options.items():
        action = actions.get(name)
        if action is None:
            if every is None:
                every = set(all_names()) | SPECIAL | set(ALIASES)
            if name in every:
                continue  # an option of another command
            close = _close(name, sorted(every - REFUSED), n=3, cutoff=0.6)
            raise UsageError(f"{origin}: unknown key '{clean(name)}'",
                             f"did you mean {', '.join(close)}?" if close
                             else "keys are long option names, e.g. fail-on")
        defaults[action.dest] = _convert(origin, name, action, value, base)
    defaults["severity_overrides"] = dict(cfg.severity_overrides)
    defaults["disable"] = cfg.disable
    parser.set_defaults(**defaults)
    return defaults


def settle(ns: argparse.Namespace, defaults: Mapping[str, Any]) -> None:
    """After parsing: a repeatable option given on the command line replaces the file's
    list (argparse would have added to it)."""
    for dest, value in defaults.items():
        now = getattr(ns, dest, None)
        if isinstance(value, list) and isinstance(now, list) and len(now) > len(value) \
                and now[:len(value)] == value:
            setattr(ns, dest, now[len(value):])


def _convert(origin: str, name: str, action: argparse.Action, value: Any, base: str) -> Any:
    where = f"{origin}: {name}"
    if action.nargs == 0:  # a switch
        if not isinstance(value, bool):
            raise UsageError(f"{where}: expected true or false, not {_shown(value)}")
        return value if action.const is True else not value
    if isinstance(action, argparse._AppendAction):
        items = value if isinstance(value, list) else [value]
        return [_one(where, action, item, base) for item in items]
    if isinstance(value, list):
        if not all(_scalar(v) for v in value) or action.metavar != "LIST":
            raise UsageError(f"{where}: expected one value, not a list")
        value = ",".join(str(v) for v in value)
    return _one(where, action, value, base)


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def _shown(value: Any) -> str:
    return clean(repr(value))[:80]


def _one(where: str, action: argparse.Action, value: Any, base: str) -> Any:
    if not _scalar(value):
        hint = " (quote it: YAML reads yes/no/on/off as true/false)" \
            if isinstance(value, bool) else ""
        raise UsageError(f"{where}: expected a value, not {_shown(value)}{hint}")
    text = str(value)
    if action.metavar in PATH_METAVARS and action.type is None:
        text = os.path.expanduser(text)
        if text != "-" and not os.path.isabs(text):
            text = os.path.join(base, text)
    if action.type is not None:
        convert: Callable[[str], Any] = action.type  # type: ignore[assignment]
        try:
            result = convert(text)
        except argparse.ArgumentTypeError as exc:
            raise UsageError(f"{where}: {clean(str(exc))}") from None
        except (TypeError, ValueError):
            raise UsageError(f"{where}: invalid value {_shown(value)}") from None
    else:
        result = text
    if action.choices is not None and result not in action.choices:
        raise UsageError(f"{where}: invalid choice {_shown(value)} (choose from "
                         f"{', '.join(str(c) for c in action.choices)})")
    return result
