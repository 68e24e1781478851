"""Compose files -> `ContainerSpec`s, one per active service.

What `docker compose config` would compute, for the keys that affect security:

* files read with PyYAML's safe loader under limits (4 MiB, no NUL bytes, a node and
  alias budget that refuses a billion-laughs file while it is being composed), with
  YAML 1.2 scalars as Compose (go-yaml v3) reads them: `22:22` and `no` stay strings;
* `${VAR}`, `$VAR`, `${VAR:-d}`, `${VAR-d}`, `${VAR:+a}`, `${VAR+a}`, `${VAR:?e}`,
  `${VAR?e}` (nested defaults too) and `$$`, from `env` (default `os.environ`) over the
  `.env` file beside the first file;
* `extends` (same file or `file:`), `profiles` (a service with profiles is active only
  when one is named, or `*`; `COMPOSE_PROFILES` when none are given), the legacy
  `version:` ignored, `!reset` / `!override` tags;
* `-f a -f b` merges per the Compose Specification: mappings merge, scalars and
  `command`/`entrypoint`/`healthcheck.test` are replaced, `volumes`/`devices` merge by
  target, other sequences append without duplicates.

Semantics follow `collect/inspect.py` for a live container: a service without
`network_mode` is on the project's default network (network_mode "", networks
("default",)), pids_limit None when unset, healthcheck None when absent or disabled,
user "" when unset; a named volume's size_limit comes from its top-level `driver_opts`
(None = known unbounded, `Unknown` for external volumes or third-party drivers).
Pass-through variables (`- NAME`) keep an empty value: the file holds no secret for them.

Each file is validated against the Compose Specification's schema after interpolation
(see "validation" below): unknown keys, wrong types and a project without `services` are
InputErrors naming the file and line. Booleans written as strings are cast as Compose
casts them (`privileged: "true"`, `${PRIV:-yes}`).

`env_file` files (relative to the file naming them) are read through safeio, size-capped;
their variables become one extra spec per env file (`Project.env_specs`, target the env
file, each variable at its own line), judged for secrets only; their values are never
shown. A missing env_file is a note unless `required: false`. A service built from a
local Dockerfile (`build:` context + dockerfile, `target`) gets `image_user`: the last
USER of the stage the image is built from. A service naming only `image:` (no `build:`,
no `user:`) gets the image's configured user from `users` (the local Engine, or the
registry's config blob: `collect.dockerfile.BaseUserResolver`), `image_user_from` the
image and `image_user_source` "image (local Engine)" / "image (registry)"; Unknown with
`image_user_source` "unknown" when it cannot be known. Notes (`Project.notes`) become the report's
warnings.

Lines: `ContainerSpec.lines` maps each field to the line of the compose key that set
it (`pid_mode` <- `pid`, `mounts` <- `volumes`, `env` <- `environment`...), and each
item of a list or mapping to its own line (`env:NAME`, `mounts:0`, `ports:1`,
`devices:0`, `cap_add:0`). A field the file leaves unset (e.g. no `pids_limit`) maps
to the line of the service's own key, so every finding has a line. With several `-f`
files, `target.ref` is the last file that defines (or overrides) the service, and only
lines from that file are kept; the others fall back to the service's line in it.

Hand-written because no maintained library interpolates, merges and keeps line numbers
(compose-go is Go; the Python `docker-compose` v1 is retired).
"""

from __future__ import annotations

import fnmatch
import functools
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from dockwarden import read_data, safeio
from dockwarden.collect.inspect import volume_size_limit
from dockwarden.errors import DockwardenError, InputError
from dockwarden.model.common import Fact, Source, TargetKind, Unknown
from dockwarden.model.container import ContainerSpec, Mount, PortBinding
from dockwarden.model.finding import Target
from dockwarden.sanitize import clean, excerpt

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_NODES = 200_000  # nodes as written (a 4 MiB file holds fewer in practice)
MAX_EXPANDED = 100_000  # nodes once every alias is expanded
MAX_ALIASES = 1_000
MAX_EXTENDS = 32  # `extends` chain length
MAX_DEPTH = 24  # YAML nesting (real compose files nest under 12). Composing recurses, and
# PyYAML's scanner does work per token for every open flow level (depth x size)
MAX_INTERPOLATION_DEPTH = 32  # `${A:-${B:-...}}` nesting (the expansion recurses)
COMPOSE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
SKIP_DIRS = frozenset({".git", "node_modules"})

Lines = dict[tuple[str, ...], tuple[str, int]]  # key path in a service -> (file, line)


# --------------------------------------------------------------------------- loading


class _Reset:
    """`!reset`: drop the value inherited from an earlier file or `extends`."""


@dataclass(frozen=True, slots=True)
class _Override:
    """`!override value`: replace instead of merging."""

    value: Any


RESET = _Reset()


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 scalars and a budget on nodes and alias expansion.

    Each node's expanded size (aliases counted in full) is computed as it is composed,
    so an exponential alias chain is refused after a few levels, before construction.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._sizes: dict[int, int] = {}
        self._nodes = 0
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise InputError(f"YAML nested more than {MAX_DEPTH} levels deep")
            return self._compose_node(parent, index)
        finally:
            self._depth -= 1

    def _compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise InputError(f"more than {MAX_ALIASES} YAML aliases")
            node = Composer.compose_node(self, parent, index)
            if node is not None and id(node) not in self._sizes:
                raise InputError("recursive YAML alias")
            return node
        node = Composer.compose_node(self, parent, index)
        if node is None:
            return None
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise InputError(f"more than {MAX_NODES} YAML nodes")
        size = 1
        if isinstance(node, SequenceNode):
            size += sum(self._sizes.get(id(child), 1) for child in node.value)
        elif isinstance(node, MappingNode):
            size += sum(self._sizes.get(id(k), 1) + self._sizes.get(id(v), 1)
                        for k, v in node.value)
        if size > MAX_EXPANDED:
            raise InputError(
                f"YAML aliases expand to more than {MAX_EXPANDED} nodes (billion laughs?)")
        self._sizes[id(node)] = size
        return node


# YAML 1.2 core schema for bool/int/float, as go-yaml v3 (and so Compose) reads scalars.
_BoundedLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers
            if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int",
                           "tag:yaml.org,2002:float")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_BoundedLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"))
_BoundedLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
    list("-+0123456789"))
_BoundedLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."))


def _construct_int(loader: yaml.SafeLoader, node: yaml.Node) -> int:
    text = str(loader.construct_scalar(node))  # type: ignore[arg-type]
    if text.startswith("0o"):
        return int(text[2:], 8)
    return int(text, 0) if text.startswith("0x") else int(text, 10)


def _construct_reset(loader: yaml.SafeLoader, node: yaml.Node) -> _Reset:
    return RESET


def _construct_override(loader: yaml.SafeLoader, node: yaml.Node) -> _Override:
    if isinstance(node, MappingNode):
        return _Override(loader.construct_mapping(node, deep=True))
    if isinstance(node, SequenceNode):
        return _Override(loader.construct_sequence(node, deep=True))
    return _Override(loader.construct_scalar(node))  # type: ignore[arg-type]


_BoundedLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_BoundedLoader.add_constructor("!reset", _construct_reset)
_BoundedLoader.add_constructor("!override", _construct_override)


def _read_text(path: str, what: str = "compose file", root: str | None = None) -> str:
    """The text of `path`, read through `safeio.read_input`: a regular file only (a FIFO
    never hangs), under MAX_FILE_BYTES, and with `root` never through a symlink leaving it."""
    data = safeio.read_input(path, what=what, max_bytes=MAX_FILE_BYTES, root=root)
    if b"\0" in data:
        raise InputError(f"{clean(path)}: binary file (NUL bytes), not a {what}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{clean(path)}: not UTF-8 text (byte {exc.start})") from None


def _one_line(text: str) -> str:
    """A YAML or interpolation message as a short, clean line (never the whole file)."""
    return excerpt(" ".join(str(text).split()), 160)


Items = dict[tuple[str, ...], list[int]]  # key path of a sequence -> each item's line


@dataclass(slots=True)
class _File:
    path: str
    data: dict[str, Any]
    lines: dict[str, Lines]  # service -> key path -> (file, line)
    service_lines: dict[str, int]
    node: MappingNode | None = None  # the document, for the line of a schema error
    items: dict[str, Items] = field(default_factory=dict)  # service -> sequence item lines


def _parse(path: str, root: str | None = None) -> _File:
    text = _read_text(path, root=root)
    shown = clean(path)
    try:
        loader = _BoundedLoader(text)  # its reader refuses control characters here
    except yaml.YAMLError as exc:
        raise InputError(f"{shown}: invalid YAML: {_one_line(str(exc))}") from None
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except InputError as exc:
        raise InputError(f"{shown}: {exc.message}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f":{mark.line + 1}" if mark is not None else ""
        raise InputError(f"{shown}{where}: invalid YAML: "
                         f"{_one_line(exc.problem or exc.context or '')}") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{shown}: invalid YAML: {_one_line(str(exc))}") from None
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise InputError(f"{shown}: invalid YAML: {_one_line(str(exc))}") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        kind = "empty" if data is None else type(data).__name__
        raise InputError(f"{shown}: top level must be a mapping, found {kind}")
    lines: dict[str, Lines] = {}
    items: dict[str, Items] = {}
    service_lines: dict[str, int] = {}
    assert isinstance(node, MappingNode)
    for key, value in node.value:
        if isinstance(key, ScalarNode) and key.value == "services" and isinstance(
                value, MappingNode):
            for skey, snode in value.value:
                if not isinstance(skey, ScalarNode):
                    continue
                service_lines[skey.value] = skey.start_mark.line + 1
                found: Lines = {}
                found_items: Items = {}
                _key_lines(snode, (), path, found, found_items, depth=0)
                lines[skey.value] = found
                items[skey.value] = found_items
    return _File(path, data, lines, service_lines, node, items)


def _key_lines(node: Node, prefix: tuple[str, ...], path: str, out: Lines, items: Items,
               depth: int) -> None:
    if not isinstance(node, MappingNode) or depth > 4:
        return
    for key, value in node.value:
        if isinstance(key, ScalarNode) and key.value != "<<":
            keypath = (*prefix, str(key.value))
            out[keypath] = (path, key.start_mark.line + 1)  # a later key wins, as in YAML
            if isinstance(value, SequenceNode):
                items[keypath] = [item.start_mark.line + 1 for item in value.value]
            _key_lines(value, keypath, path, out, items, depth + 1)


# --------------------------------------------------------------------- interpolation

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(slots=True)
class _Interp:
    """Compose interpolation. Nesting (`${A:-${B:-x}}`) recurses, so it is capped at
    MAX_INTERPOLATION_DEPTH levels with a clear error; each level scans its own text once
    (finding the closing brace is linear), so the work is linear in the string's size."""

    env: Mapping[str, str]
    path: str
    unset: set[str] = field(default_factory=set)

    def value(self, obj: Any) -> Any:
        if isinstance(obj, str):
            return self.text(obj) if "$" in obj else obj
        if isinstance(obj, dict):
            return {k: self.value(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self.value(v) for v in obj]
        if isinstance(obj, _Override):
            return _Override(self.value(obj.value))
        return obj

    def _error(self, message: str) -> InputError:
        return InputError(f"{clean(self.path)}: {message}")

    def text(self, s: str, depth: int = 0) -> str:
        if depth > MAX_INTERPOLATION_DEPTH:
            raise self._error(f"interpolation nested more than {MAX_INTERPOLATION_DEPTH} "
                              "levels deep")
        out: list[str] = []
        i, n = 0, len(s)
        while i < n:
            dollar = s.find("$", i)
            if dollar == -1 or dollar + 1 >= n:
                out.append(s[i:])
                break
            out.append(s[i:dollar])
            i = dollar
            nxt = s[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
            elif nxt == "{":
                end = self._close(s, i + 2)
                out.append(self._braced(s[i + 2:end], depth))
                i = end + 1
            else:
                m = _NAME.match(s, i + 1)
                if m is None:
                    out.append("$")
                    i += 1
                else:
                    out.append(self._get(m.group()) or "")
                    i = m.end()
        return "".join(out)

    def _close(self, s: str, start: int) -> int:
        nesting = 1
        for j in range(start, len(s)):
            if s[j] == "{" and s[j - 1] == "$":
                nesting += 1
                if nesting > MAX_INTERPOLATION_DEPTH + 1:
                    raise self._error(f"interpolation nested more than "
                                      f"{MAX_INTERPOLATION_DEPTH} levels deep")
            elif s[j] == "}":
                nesting -= 1
                if nesting == 0:
                    return j
        raise self._error(f"invalid interpolation format in {excerpt(s[start - 2:], 60)}: "
                          "missing '}'")

    def _get(self, name: str) -> str | None:
        value = self.env.get(name)
        if value is None:
            self.unset.add(name)
        return value

    def _braced(self, body: str, depth: int) -> str:
        m = _NAME.match(body)
        if m is None:
            raise self._error(f"invalid interpolation format: {excerpt('${' + body + '}', 60)}")
        name, rest = m.group(), body[m.end():]
        value = self.env.get(name)
        if not rest:
            return self._get(name) or ""
        for op in (":-", ":?", ":+", "-", "?", "+"):
            if rest.startswith(op):
                arg = rest[len(op):]
                break
        else:
            raise self._error(f"invalid interpolation format: {excerpt('${' + body + '}', 60)}")
        missing = value is None or (op.startswith(":") and value == "")
        if op.endswith("-"):
            return self.text(arg, depth + 1) if missing else str(value)
        if op.endswith("+"):
            return "" if missing else self.text(arg, depth + 1)
        if missing:
            msg = self.text(arg, depth + 1) or f"variable {name} is required"
            raise self._error(f"required variable {name} is missing a value: "
                              f"{excerpt(msg, 120)}")
        return str(value)


def read_dotenv(path: str, root: str | None = None) -> dict[str, str]:
    """`KEY=VALUE` lines of a `.env` file (`export`, quotes and comments understood)."""
    return {key: value for key, value, _ in dotenv_lines(_read_text(path, ".env file", root))}


def dotenv_lines(text: str) -> list[tuple[str, str, int]]:
    """(key, value, line) of each `KEY=VALUE` line of a `.env` or `env_file` text; a bare
    `KEY` (passed through from the environment) holds no value and is left out."""
    out: list[tuple[str, str, int]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[7:].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not _NAME.fullmatch(key):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
            if raw.strip().partition("=")[2].strip()[0] == '"':
                value = value.replace("\\n", "\n").replace('\\"', '"')
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        out.append((key, value, number))
    return out


# ------------------------------------------------------------------------ validation
#
# Each file is checked, after interpolation, against the Compose Specification's JSON
# schema as Debian's docker-compose package ships it (data/compose-spec.json, Apache-2.0,
# licence in data/compose-spec.LICENSE), unchanged on disk. That schema predates some
# keys the Compose Specification added since (top-level `name`, `uts`, `env_file` as
# `{path, required}`, `deploy.resources.limits.pids`...): `_extend_schema` adds them
# here, so a current file is not refused for what `docker compose` accepts. Validation
# uses jsonschema's Draft-7 validator, built once per process.

_TRUE = frozenset({"y", "yes", "true", "on"})
_FALSE = frozenset({"n", "no", "false", "off"})
_SERVICE_BOOLS = ("privileged", "read_only", "stdin_open", "tty", "init", "oom_kill_disable",
                  "attach", "use_api_socket")
_ANY: dict[str, Any] = {}
_STR = {"type": "string"}
_BOOL = {"type": "boolean"}  # after `_coerce`: a string left here is not a boolean


def _as_bool(value: Any) -> Any:
    """A boolean given as a string, read as Compose does (`"true"`, `yes`, `${X:-on}`);
    any other string is left for the schema to refuse."""
    if isinstance(value, str):
        low = value.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
    return value


def _as_int(value: Any) -> Any:
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?[0-9]{1,18}\s*", value):
        return int(value)
    return value


def _unwrap(value: Any) -> Any:
    return value.value if isinstance(value, _Override) else value


def _fix(mapping: Any, key: str, cast: Any) -> None:
    mapping = _unwrap(mapping)
    if not isinstance(mapping, dict) or key not in mapping:
        return
    value = mapping[key]
    mapping[key] = _Override(cast(value.value)) if isinstance(value, _Override) else cast(value)


def _dicts(value: Any) -> list[dict[str, Any]]:
    value = _unwrap(value)
    items = value.values() if isinstance(value, dict) else value if isinstance(
        value, list) else ()
    return [v for v in (_unwrap(i) for i in items) if isinstance(v, dict)]


def _coerce(data: dict[str, Any]) -> None:
    """Cast, in place, the values Compose casts after interpolation: booleans (and the
    integers of ports and limits) written as strings."""
    for svc in _dicts(data.get("services")):
        for key in _SERVICE_BOOLS:
            _fix(svc, key, _as_bool)
        _fix(svc, "pids_limit", _as_int)
        _fix(svc.get("healthcheck"), "disable", _as_bool)
        for vol in _dicts(svc.get("volumes")):
            _fix(vol, "read_only", _as_bool)
            _fix(vol.get("bind"), "create_host_path", _as_bool)
            _fix(vol.get("volume"), "nocopy", _as_bool)
        for port in _dicts(svc.get("ports")):
            _fix(port, "target", _as_int)
            _fix(port, "published", _as_int)
        for item in _dicts(svc.get("env_file")):
            _fix(item, "required", _as_bool)
        deploy = _unwrap(svc.get("deploy"))
        if isinstance(deploy, dict):
            _fix(deploy, "replicas", _as_int)
            _fix(_get(_unwrap(deploy.get("resources")), "limits"), "pids", _as_int)
    for section in ("networks", "volumes", "secrets", "configs"):
        for decl in _dicts(data.get(section)):
            for key in ("external", "internal", "attachable", "enable_ipv6", "enable_ipv4"):
                _fix(decl, key, _as_bool)


def _plain(value: Any) -> Any:
    """The document as `docker compose` validates it: `!override` unwrapped, `!reset`
    entries dropped."""
    value = _unwrap(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if not isinstance(v, _Reset)}
    if isinstance(value, list):
        return [_plain(v) for v in value if not isinstance(v, _Reset)]
    return value


def _props(schema: dict[str, Any], **more: Any) -> None:
    schema.setdefault("properties", {}).update(more)


def _extend_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Keys the Compose Specification added after the shipped schema (see above)."""
    defs = schema["definitions"]
    _props(schema, name=_STR, include={"type": "array"})
    svc = defs["service"]
    _props(svc, uts=_STR, attach=_BOOL, annotations={"$ref": "#/definitions/list_or_dict"},
           cgroup=_STR, develop=_ANY, gpus=_ANY, label_file=_ANY, models=_ANY, provider=_ANY,
           post_start=_ANY, pre_stop=_ANY, use_api_socket=_BOOL, mac_address=_STR,
           env_file={"oneOf": [_STR, {"type": "array", "items": {"oneOf": [_STR, {
               "type": "object", "required": ["path"], "additionalProperties": False,
               "properties": {"path": _STR, "required": _BOOL, "format": _STR}}]}}]})
    props = svc["properties"]
    for key in _SERVICE_BOOLS:
        if key in props:
            props[key] = {"type": "boolean"}
    props["devices"] = {"type": "array", "items": {"oneOf": [_STR, {
        "type": "object", "required": ["source"],
        "properties": {"source": _STR, "target": _STR, "permissions": _STR},
        "additionalProperties": False, "patternProperties": {"^x-": {}}}]}}
    build = props["build"]["oneOf"][1]
    _props(build, additional_contexts=_ANY, ssh=_ANY, secrets=_ANY, tags=_ANY,
           platforms=_ANY, privileged=_ANY, ulimits=_ANY, no_cache=_ANY, pull=_ANY,
           dockerfile_inline=_STR, entitlements=_ANY, cache_to=_ANY)
    port = props["ports"]["items"]["oneOf"][2]
    _props(port, host_ip=_STR, name=_STR, app_protocol=_STR,
           published={"type": ["integer", "string"]})
    vol = props["volumes"]["items"]["oneOf"][1]["properties"]
    _props(vol["bind"], create_host_path=_BOOL, selinux=_STR)
    _props(vol["volume"], subpath=_STR)
    _props(vol["tmpfs"], size={"type": ["integer", "string"]}, mode={"type": ["integer",
                                                                              "string"]})
    vol["image"] = {"type": "object"}
    nets = props["networks"]["oneOf"][1]["patternProperties"]
    for entry in nets.values():
        _props(entry["oneOf"][0], mac_address=_STR, driver_opts=_ANY, gw_priority=_ANY,
               interface_name=_STR)
    depends = props["depends_on"]["oneOf"][1]["patternProperties"]
    for entry in depends.values():
        entry.pop("required", None)  # `condition` may be left out (service_started)
        _props(entry, restart=_ANY, required=_ANY)
    _props(defs["healthcheck"], start_interval=_ANY)
    resources = defs["deployment"]["properties"]["resources"]["properties"]
    for part in ("limits", "reservations"):
        _props(resources[part], pids={"type": ["integer", "string"]},
               memory={"type": ["string", "integer"]})
    _props(defs["network"], enable_ipv4=_BOOL, driver_opts=_ANY)
    for kind in ("secret", "config"):
        _props(defs[kind], environment=_STR, content=_STR)
    list_or_dict = defs["list_or_dict"]["oneOf"][0]["patternProperties"]
    for entry in list_or_dict.values():
        entry["type"] = ["string", "number", "boolean", "null"]
    return schema


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    from jsonschema import Draft7Validator  # type: ignore[import-untyped,unused-ignore]

    return Draft7Validator(_extend_schema(json.loads(read_data("compose-spec.json"))))


def _dotted(path: Sequence[Any]) -> str:
    return ".".join(excerpt(clean(str(p)), 60) for p in path) or "the top level"


def _node_line(root: Node | None, path: Sequence[Any], key: str | None = None) -> int:
    """The line of the value at `path` in the YAML tree (of `key` in it, when given):
    the deepest node found, so a line is always given."""
    node, line = root, 1
    for part in (*path, *(() if key is None else (key,))):
        if node is None:
            break
        found: tuple[int, Node] | None = None
        if isinstance(node, MappingNode):
            pairs = list(node.value)
            for k, v in pairs:  # merge keys: their mappings' entries, after own keys
                if isinstance(k, ScalarNode) and k.value == "<<":
                    merged = v.value if isinstance(v, SequenceNode) else [v]
                    pairs += [p for m in merged if isinstance(m, MappingNode) for p in m.value]
            for k, v in pairs:
                if isinstance(k, ScalarNode) and k.value == str(part):
                    found = (k.start_mark.line + 1, v)
                    break
        elif isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(
                node.value):
            item = node.value[part]
            found = (item.start_mark.line + 1, item)
        if found is None:
            break
        line, node = found
    return line


_YAML_TYPES = {"object": "mapping", "array": "list", "null": "null (empty)"}


def _types(value: Any) -> str:
    names = value if isinstance(value, list) else [value]
    return " or ".join(_YAML_TYPES.get(str(n), str(n)) for n in names)


def _schema_message(error: Any) -> tuple[list[Any], str | None, str]:
    """(path, extra key, message) for one error, naming keys but never echoing values
    (a wrongly placed value may be a secret)."""
    path = list(error.absolute_path)
    kind = error.validator
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        patterns = list(error.schema.get("patternProperties", {}))
        extra = [k for k in error.instance if k not in allowed
                 and not any(re.search(p, str(k)) for p in patterns)]
        if extra:
            key = str(extra[0])
            where = _dotted(path)
            return path, key, f"{where}: unknown key {excerpt(clean(key), 60)!r}" + (
                f" (and {len(extra) - 1} more)" if len(extra) > 1 else "")
    where = _dotted(path)
    if kind == "type":
        names = _types(error.validator_value)
        if names == "boolean":
            return path, None, f"{where}: must be a boolean (true or false)"
        return path, None, f"{where}: must be {'an' if names[0] in 'aeiou' else 'a'} {names}"
    if kind == "required":
        return path, None, f"{where}: {excerpt(clean(error.message), 120)}"
    if kind in ("oneOf", "anyOf"):
        kinds = sorted({_types(s["type"]) for s in error.validator_value if "type" in s})
        hint = f" (expected {' or '.join(kinds)})" if kinds else ""
        return path, None, f"{where}: not a valid value{hint}"
    if kind == "enum":
        allowed_values = ", ".join(str(v) for v in error.validator_value)
        return path, None, f"{where}: must be one of {excerpt(allowed_values, 120)}"
    if kind == "uniqueItems":
        return path, None, f"{where}: has duplicate items"
    return path, None, f"{where}: does not satisfy {kind} {excerpt(str(error.validator_value), 60)}"


def validate(f: _File, data: dict[str, Any]) -> None:
    """Refuse a file the Compose Specification refuses: an InputError naming the file,
    the line and the key of the first error (by line), and how many more there are."""
    errors = []
    for error in _validator().iter_errors(_plain(data)):
        path, key, message = _schema_message(error)
        errors.append((_node_line(f.node, path, key), message))
        if len(errors) >= 100:
            break
    if errors:
        errors.sort()
        line, message = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise InputError(f"{clean(f.path)}:{line}: invalid compose file: {message}{more}")


# --------------------------------------------------------------------------- merging

# Sequences replaced rather than appended.
_REPLACE = frozenset({"command", "entrypoint", "test"})
# Key/value forms normalised to mappings before merging.
_KV_KEYS = frozenset({"environment", "labels", "sysctls", "extra_hosts", "annotations",
                      "args"})


def _kv(value: Any, sep: str = "=") -> dict[str, Any]:
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    out: dict[str, Any] = {}
    if isinstance(value, list):
        for item in value:
            key, found, val = str(item).partition(sep)
            out[key.strip()] = val if found else None
    return out


def _normalise(service: dict[str, Any]) -> dict[str, Any]:
    out = dict(service)
    for key in _KV_KEYS & out.keys():
        if not isinstance(out[key], (_Reset, _Override)):
            out[key] = _kv(out[key], ":" if key == "extra_hosts" else "=")
    if isinstance(out.get("networks"), list):
        out["networks"] = {str(n): None for n in out["networks"]}
    return out


def _volume_target(item: Any) -> str:
    if isinstance(item, dict):
        return str(item.get("target", ""))
    parts = str(item).split(":")
    return parts[1] if len(parts) > 1 else parts[0]


def _merge(base: Any, over: Any, key: str = "") -> Any:
    if isinstance(over, _Reset):
        return RESET
    if isinstance(over, _Override):
        return over.value
    if isinstance(base, _Reset) or base is None:
        return over
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = _merge(out[k], v, str(k)) if k in out else _merge(None, v, str(k))
        return {k: v for k, v in out.items() if not isinstance(v, _Reset)}
    if isinstance(base, list) and isinstance(over, list) and key not in _REPLACE:
        if key in ("volumes", "devices"):
            by_target = {_volume_target(x): x for x in base}
            by_target.update({_volume_target(x): x for x in over})
            return list(by_target.values())
        out_list = list(base)
        out_list.extend(x for x in over if x not in out_list)
        return out_list
    return over


def _clean(value: Any) -> Any:
    """Drop `!reset` values and unwrap `!override` once merging is done."""
    if isinstance(value, _Override):
        value = value.value
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if not isinstance(v, _Reset)}
    if isinstance(value, list):
        return [_clean(v) for v in value if not isinstance(v, _Reset)]
    return None if isinstance(value, _Reset) else value


def _beside(path: str, name: str) -> str:
    """`name` relative to the directory of the file `path`."""
    if os.path.isabs(name):
        return name
    return os.path.normpath(os.path.join(os.path.dirname(path) or ".", name))


def _is_remote(context: str) -> bool:
    return "://" in context or context.startswith(("git@", "github.com/"))


def _resolve_paths(path: str, body: dict[str, Any]) -> None:
    """`env_file` and `build` paths are relative to the file that names them: resolved
    here, before merges and `extends` carry them into another file's service. Each
    env_file becomes `{path, required}`."""
    value = body.get("env_file")
    if value is not None and not isinstance(value, _Reset):
        out = []
        for item in _list(_unwrap(value)):
            name = item.get("path") if isinstance(item, dict) else item
            if not isinstance(name, str) or not name:
                continue
            required = item.get("required", True) if isinstance(item, dict) else True
            out.append({"path": _beside(path, name), "required": required is not False})
        body["env_file"] = _Override(out) if isinstance(value, _Override) else out
    build = body.get("build")
    raw = _unwrap(build)
    if isinstance(raw, str):
        raw = {"context": raw}
    if isinstance(raw, dict):
        context = _str(raw.get("context")) or "."
        if not _is_remote(context):
            resolved = {**raw, "context": _beside(path, context)}
            body["build"] = _Override(resolved) if isinstance(build, _Override) else resolved


def _merge_service(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = _merge(_normalise(base), _normalise(over))
    assert isinstance(merged, dict)
    return merged


# --------------------------------------------------------------------------- project


@dataclass(frozen=True, slots=True)
class Project:
    """Active services as specs, plus notes on what the file leaves unknown (warnings of
    the report), and one spec per `env_file` read: its variables with their own lines and
    the env file as target, judged for secrets (DW233) only."""

    specs: tuple[ContainerSpec, ...]
    notes: tuple[str, ...] = ()
    env_specs: tuple[ContainerSpec, ...] = ()


class ProjectSpecs(list[ContainerSpec]):
    """What `load_project` returns: the active services' specs (a list), with the
    project's `warnings` and its `env_specs` (see `Project`)."""

    def __init__(self, project: Project) -> None:
        super().__init__(project.specs)
        self.warnings: tuple[str, ...] = project.notes
        self.env_specs: tuple[ContainerSpec, ...] = project.env_specs


@dataclass(slots=True)
class _Service:
    data: dict[str, Any]
    lines: Lines
    ref: str  # the last file defining it
    line: int  # its key's line in `ref`
    own: dict[str, Any] = field(default_factory=dict)  # its body as written in `ref`
    items: Items = field(default_factory=dict)  # sequence item lines in `ref`


class _Loader:
    def __init__(self, env: Mapping[str, str], base_dir: str, root: str | None = None,
                 users: Any = None) -> None:
        self.env = env
        self.users = users  # a BaseUserResolver, or None: image users not looked up
        self.base_dir = base_dir
        self.root = root
        self.cache: dict[str, _File] = {}
        self.notes: list[str] = []
        self.unset: set[str] = set()
        self.env_cache: dict[str, list[tuple[str, str, int]] | None] = {}
        self.dockerfiles: dict[tuple[str, str], tuple[Fact[str | None], str]] = {}

    def file(self, path: str) -> _File:
        key = os.path.abspath(path)
        if key not in self.cache:
            f = _parse(path, self.root)
            interp = _Interp(self.env, path)
            data = interp.value(f.data)
            self.unset |= interp.unset
            _coerce(data)
            validate(f, data)
            f.data = data
            self.cache[key] = f
        return self.cache[key]

    def services(self, f: _File) -> dict[str, Any]:
        services = f.data.get("services")
        if services is None:
            return {}
        if not isinstance(services, dict):
            raise InputError(f"{clean(f.path)}: `services` must be a mapping")
        for name, body in services.items():
            if not isinstance(body, dict):
                raise InputError(f"{clean(f.path)}: service {excerpt(name, 60)!r} must be a "
                                 "mapping")
        return services

    def resolve(self, f: _File, name: str, seen: tuple[tuple[str, str], ...] = ()) -> _Service:
        """One service of one file with its `extends` chain applied."""
        ident = (os.path.abspath(f.path), name)
        if ident in seen:
            raise InputError(f"{clean(f.path)}: circular extends of service "
                             f"{excerpt(name, 60)!r}")
        if len(seen) > MAX_EXTENDS:
            raise InputError(f"{clean(f.path)}: extends chained more than {MAX_EXTENDS} deep")
        services = self.services(f)
        if name not in services:
            raise InputError(f"{clean(f.path)}: extends: no service {excerpt(name, 60)!r}")
        own = services[name]
        body = dict(own)
        lines = dict(f.lines.get(name, {}))
        ext = body.pop("extends", None)
        lines.pop(("extends",), None)
        if ext is not None:
            if isinstance(ext, str):
                ext = {"service": ext}
            if not isinstance(ext, dict) or not isinstance(ext.get("service"), str):
                raise InputError(f"{clean(f.path)}: service {excerpt(name, 60)!r}: invalid "
                                 "extends")
            base_file = f
            if ext.get("file"):
                other = str(ext["file"])
                if not os.path.isabs(other):
                    other = os.path.join(os.path.dirname(f.path) or ".", other)
                base_file = self.file(other)
            base = self.resolve(base_file, ext["service"], (*seen, ident))
            body = _merge_service(base.data, body)
            lines = {**base.lines, **lines}
        _resolve_paths(f.path, body)
        return _Service(body, lines, f.path, f.service_lines.get(name, 1), own,
                        f.items.get(name, {}))

    def dockerfile_user(self, build: Any, where: str) -> tuple[Fact[str | None], str]:
        """The user an image built from a local Dockerfile runs as: the last USER of the
        target stage (the final one by default), following `FROM <earlier stage>` (the
        model's `user_of`, as DW501). Unknown when no stage sets one (inherited from the
        base image), the last USER has no argument (docker build rejects the file) or the
        file cannot be read (a warning says why). Each Dockerfile is parsed once per
        project."""
        if isinstance(build, str):
            build = {"context": build}
        if not isinstance(build, dict):
            return None, ""
        context = _str(build.get("context")) or "."
        if _is_remote(context):
            return Unknown("built from a remote context: its Dockerfile is not read"), ""
        if build.get("dockerfile_inline") is not None:
            return Unknown("an inline Dockerfile is not read"), ""
        name = _str(build.get("dockerfile")) or "Dockerfile"
        path = name if os.path.isabs(name) else os.path.normpath(os.path.join(context, name))
        target = _str(build.get("target"))
        key = (os.path.abspath(path), target)
        if key not in self.dockerfiles:
            self.dockerfiles[key] = self._dockerfile_user(path, target, where)
        return self.dockerfiles[key]

    def _dockerfile_user(self, path: str, target: str,
                         where: str) -> tuple[Fact[str | None], str]:
        from dockwarden.collect.dockerfile import parse_dockerfile

        shown = clean(path)
        if not os.path.lexists(path):
            self.notes.append(f"{where}: built from {shown}, which is not there: the "
                              "image's user is not known")
            return Unknown(f"{shown} not found"), ""
        try:
            df = parse_dockerfile(path, root=self.root)
        except InputError as exc:
            self.notes.append(f"{where}: the image's user is not known: {exc.message}")
            return Unknown(exc.message), ""
        stage = df.stage_named(target, by_index=False) if target else df.final
        if stage is None:
            self.notes.append(f"{where}: build target {excerpt(clean(target), 60)!r} is not a "
                              f"stage of {shown}: the image's user is not known")
            return Unknown(f"no stage {target} in {path}"), ""
        found = df.user_of(stage)  # the model's walk, as DW501's (one implementation)
        if found is not None:
            inst = found[1]
            if not inst.args:  # `docker build` refuses it: no user to judge
                self.notes.append(f"{where}: {shown}:{inst.line}: USER without an argument "
                                  "(docker build rejects the file): the image's user is "
                                  "not known")
                return Unknown(f"{shown}:{inst.line}: USER without an argument (docker "
                               "build rejects the file)"), ""
            return inst.args[0], f"{shown}:{inst.line}"
        base = df.external_base_of(stage)
        return Unknown(f"no USER in {shown}: the user is inherited from {base}, which the "
                       "files do not show"), base

    def image_user(self, image: str) -> tuple[Fact[str | None], str]:
        """The configured user of `image` for a service that names only `image:` and no
        `user:`, and where it was learnt (`BaseUserResolver.image_user`): from the
        resolver (local Engine, registry), else Unknown naming it."""
        if self.users is None:
            return Unknown(f"the user is the image's ({excerpt(clean(image), 120)}), not "
                           "looked up"), "unknown"
        found: tuple[Fact[str | None], str] = self.users.image_user(image)
        return found

    def env_file(self, path: str) -> list[tuple[str, str, int]] | None:
        """The variables of one `env_file` (None when it does not exist), read through
        safeio: a regular file inside the scanned root, size-capped (a FIFO or a symlink
        to a host file is refused as an input error, as for every file a compose file
        names). Its text is never shown: only variable names and lines leave here."""
        key = os.path.abspath(path)
        if key not in self.env_cache:
            if not os.path.lexists(path):
                self.env_cache[key] = None
            else:
                text = safeio.read_text(path, what="env_file", max_bytes=MAX_FILE_BYTES,
                                        root=self.root)
                if "\0" in text:
                    raise InputError(f"{clean(path)}: binary file (NUL bytes), not an env_file")
                self.env_cache[key] = dotenv_lines(text)
        return self.env_cache[key]


def load(
    paths: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    profiles: Sequence[str] = (),
    root: str | None = None,
    users: Any = None,
) -> Project:
    """Load one project from `paths` (merged in order, as `docker compose -f a -f b`).
    With `root` (a scanned directory), every file read (compose files, `extends` files,
    `.env`, `env_file`s checked) must stay inside it: a symlink out of it is refused.
    `users` (a `collect.dockerfile.BaseUserResolver`, one per run) looks up the configured
    user of the image of a service that names only `image:`; without it that user is
    Unknown."""
    if not paths:
        raise InputError("no compose file given")
    try:
        return _load(paths, env, profiles, root, users)
    except DockwardenError:
        raise
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError,
            RecursionError) as exc:
        # A value of a type no branch expected: one line for this project, never a
        # traceback (the fuzz tests look for these; each found one gets a proper fix).
        raise InputError(f"{clean(paths[-1])}: cannot interpret the file "
                         f"({type(exc).__name__}: {_one_line(str(exc))})") from None


def _load(paths: Sequence[str], env: Mapping[str, str] | None, profiles: Sequence[str],
          root: str | None, users: Any = None) -> Project:
    base_dir = os.path.dirname(paths[0]) or "."
    environ: dict[str, str] = {}
    dotenv = os.path.join(base_dir, ".env")
    if os.path.lexists(dotenv):
        environ.update(read_dotenv(dotenv, root))
    environ.update(os.environ if env is None else env)
    loader = _Loader(environ, base_dir, root, users)

    merged: dict[str, _Service] = {}
    top_volumes: dict[str, Any] = {}
    includes = False
    for path in paths:
        f = loader.file(path)
        includes = includes or "include" in f.data
        vols = f.data.get("volumes")
        if isinstance(vols, dict):
            top_volumes = _merge(top_volumes, vols)
        for name in loader.services(f):
            svc = loader.resolve(f, str(name))
            prev = merged.get(str(name))
            if prev is not None:
                svc = _Service(_merge_service(prev.data, svc.data),
                               {**prev.lines, **svc.lines}, svc.ref, svc.line, svc.own,
                               svc.items)
            merged[str(name)] = svc
    if includes:
        loader.notes.append("top-level `include:` is not followed")

    if not includes and not any("services" in loader.file(p).data for p in paths):
        raise InputError(f"{clean(paths[-1])}:1: invalid compose file: no `services` "
                         "(a compose file defines its services under `services:`)")

    wanted = set(profiles) or {
        p.strip() for p in environ.get("COMPOSE_PROFILES", "").split(",") if p.strip()}
    specs = []
    env_users: dict[str, list[str]] = {}  # env_file -> the services reading it
    for name, svc in merged.items():
        svc_profiles = svc.data.get("profiles")
        if isinstance(svc_profiles, list) and svc_profiles and "*" not in wanted and not (
                wanted & {str(p) for p in svc_profiles}):
            continue
        specs.append(_spec(name, svc, top_volumes, loader))
        for item in _list(_clean(svc.data.get("env_file"))):
            if loader.env_file(item["path"]) is not None:
                env_users.setdefault(item["path"], []).append(name)
            elif item["required"]:
                loader.notes.append(f"{svc.ref}: service {name}: env_file {item['path']} "
                                    "not found: its variables are not checked")
    for var in sorted(loader.unset):
        loader.notes.append(f"variable {var} is not set: defaulting to a blank string")
    env_specs = []
    for path, users in env_users.items():
        entries = loader.env_file(path) or []
        env_specs.append(ContainerSpec(
            name=", ".join(users),
            target=Target(TargetKind.COMPOSE, path, service=", ".join(users)),
            source=Source.COMPOSE,
            env=tuple((key, value) for key, value, _ in entries),
            processes=Unknown("an env_file does not say which processes run"),
            lines={"env": 1, **{f"env:{key}": line for key, _, line in entries}}))
    return Project(tuple(specs), tuple(loader.notes), tuple(env_specs))


def load_project(
    paths: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    profiles: Sequence[str] = (),
    root: str | None = None,
    users: Any = None,
) -> ProjectSpecs:
    """The active services of one project as `ContainerSpec`s, with the project's
    warnings and env_file specs as attributes (see `ProjectSpecs`)."""
    return ProjectSpecs(load(paths, env=env, profiles=profiles, root=root, users=users))


def is_compose_name(path: str) -> bool:
    low = os.path.basename(path).lower()
    return low in COMPOSE_NAMES or fnmatch.fnmatch(low, "*compose*.y*ml")


def find_compose_files(root: str, skipped: list[tuple[str, str]] | None = None) -> list[str]:
    """Compose files under `root` (compose.yaml, docker-compose.yml, *compose*.y*ml),
    walked by `safeio.walk_files`: a compose-named entry that is a symlink leaving `root`,
    a FIFO or a device is not returned; it is added to `skipped` as (path, why)."""
    found = []
    for path, why in safeio.walk_files(root, skip_dirs=tuple(SKIP_DIRS)):
        if not is_compose_name(path):
            continue
        if why is None:
            found.append(path)
        elif skipped is not None:
            skipped.append((path, why))
    return sorted(found)


# ------------------------------------------------------------------------ conversion

_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgtp]?)(?:i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_size(value: Any) -> int:
    """Bytes of a Compose size (`512m`, `1g`, `1.5GB`, 1048576); 0 when unset or invalid."""
    if isinstance(value, bool) or value is None:
        return 0
    if isinstance(value, (int, float)):
        return _finite_int(value)
    m = _SIZE.match(str(value))
    if m is None:
        return 0
    return _finite_int(float(m.group(1)) * _UNITS[m.group(2).lower()])


MAX_INT64 = (1 << 63) - 1


def _finite_int(value: float) -> int:
    """`value` as an int when it is finite and fits the Engine's int64; else 0 (unset:
    `cpus: 1e400` or `mem_limit: 1e400` is no limit a container can have)."""
    if isinstance(value, int):
        return value if 0 <= value <= MAX_INT64 else 0
    if not math.isfinite(value) or not 0 <= value <= MAX_INT64:
        return 0
    return int(value)


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(str(value).strip(), 10) if not isinstance(value, int) else value
    except ValueError:
        return None


def _str(value: Any) -> str:
    if value is None or isinstance(value, _Reset):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _get(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _list(value: Any) -> list[Any]:
    if value is None or isinstance(value, _Reset):
        return []
    return value if isinstance(value, list) else [value]


def _is_path(source: str) -> bool:
    return source.startswith(("/", ".", "~")) or bool(re.match(r"^[A-Za-z]:[\\/]", source))


def _volume_size(name: str, top: Mapping[str, Any]) -> Fact[str | None]:
    decl = top.get(name)
    if not isinstance(decl, dict):
        return None
    if decl.get("external"):
        return Unknown(f"external volume {name}: its size bound is not in the file")
    opts = decl.get("driver_opts")
    limit = volume_size_limit({str(k): v for k, v in opts.items()} if isinstance(
        opts, dict) else None)
    driver = _str(decl.get("driver"))
    if limit is None and driver not in ("", "local"):
        return Unknown(f"volume driver {driver}: size bound not known from the file")
    return limit


_PROPAGATION = frozenset({"shared", "rshared", "slave", "rslave", "private", "rprivate"})


def _mounts(svc: Mapping[str, Any], top: Mapping[str, Any]) -> list[Mount]:
    out = []
    for item in _list(svc.get("volumes")):
        if isinstance(item, dict):
            kind = _str(item.get("type")) or "volume"
            source = _str(item.get("source"))
            target = _str(item.get("target"))
            read_only = bool(item.get("read_only"))
            propagation = _str(_get(item, "bind", "propagation"))
            if kind == "tmpfs":
                out.append(Mount("tmpfs", "", target, read_only))
                continue
        else:
            parts = str(item).split(":")
            if len(parts) > 1 and re.fullmatch(r"[A-Za-z]", parts[0]):  # C:\path
                parts = [parts[0] + ":" + parts[1], *parts[2:]]
            if len(parts) == 1:
                source, target, opts = "", parts[0], []
            else:
                source, target, opts = parts[0], parts[1], ",".join(parts[2:]).split(",")
            read_only = "ro" in opts
            propagation = next((o for o in opts if o in _PROPAGATION), "")
            kind = "bind" if _is_path(source) else "volume"
        if kind == "bind" or (kind == "volume" and source and _is_path(source)):
            out.append(Mount("bind", source, target, read_only, propagation))
        elif kind == "volume":
            size = _volume_size(source, top) if source else None
            driver = _str(_get(top, source, "driver")) if source else ""
            out.append(Mount("volume", source, target, read_only, volume_driver=driver,
                             size_limit=size))
        else:  # npipe, cluster, image
            out.append(Mount(kind, source, target, read_only))
    for item in _list(svc.get("tmpfs")):
        out.append(Mount("tmpfs", "", str(item).split(":", 1)[0], False))
    return out


def _port_range(text: str) -> range:
    """`80` or `8000-8100` as a range of valid port numbers (empty when not one). A
    range stays a range: 1-65535 is one object, never 65,535 ports."""
    lo, _, hi = text.partition("-")
    a, b = _int(lo), _int(hi) if hi else _int(lo)
    if a is None or b is None or b < a or a < 0 or b > 65535:
        return range(0)
    return range(a, b + 1)


def _ports(svc: Mapping[str, Any]) -> list[tuple[Any, PortBinding]]:
    """Each published port with the `ports:` item it came from."""
    out: list[tuple[Any, PortBinding]] = []
    for item in _list(svc.get("ports")):
        if isinstance(item, dict):
            target = _str(item.get("target"))
            proto = _str(item.get("protocol")) or "tcp"
            host_ip = _str(item.get("host_ip"))
            published = _str(item.get("published"))
        else:
            text = _str(item)
            target, _, proto = text.rpartition(":")[2].partition("/")
            head = text.rpartition(":")[0]
            proto = proto or "tcp"
            host_ip, published = "", head
            if head.startswith("["):  # [::1]:8080
                ip, _, published = head[1:].partition("]")
                host_ip, published = ip, published.lstrip(":")
            elif ":" in head:
                host_ip, _, published = head.rpartition(":")
        targets = _port_range(target)
        if not targets:
            continue
        hosts = _port_range(published) if published else range(0)
        # Equal lengths: port for port. Otherwise the Engine picks ports from the host
        # range; its first port stands for them (as before ranges were kept whole).
        host = hosts.start if hosts else None
        out.append((item, PortBinding(f"{targets.start}/{proto}", host_ip, host,
                                      len(targets))))
    return out


def _restart(svc: Mapping[str, Any]) -> tuple[str, int]:
    restart = svc.get("restart")
    if restart is not None:
        text = "no" if restart is False else _str(restart)
        name, _, retries = text.partition(":")
        return name, _int(retries) or 0
    policy = _get(svc, "deploy", "restart_policy")
    if isinstance(policy, dict):
        cond = _str(policy.get("condition")) or "any"
        name = {"any": "always", "none": "no"}.get(cond, cond)
        return name, _int(policy.get("max_attempts")) or 0
    return "", 0


def _healthcheck(svc: Mapping[str, Any]) -> tuple[str, ...] | None:
    health = svc.get("healthcheck")
    if not isinstance(health, dict) or health.get("disable") is True:
        return None
    test = health.get("test")
    if isinstance(test, str):
        return ("CMD-SHELL", test) if test else None
    if isinstance(test, list) and test and str(test[0]).upper() != "NONE":
        return tuple(str(t) for t in test)
    return None


def _ulimits(svc: Mapping[str, Any]) -> tuple[str, ...]:
    limits = svc.get("ulimits")
    if not isinstance(limits, dict):
        return ()
    out = []
    for name, value in limits.items():
        if isinstance(value, dict):
            out.append(f"{name}={value.get('soft')}:{value.get('hard')}")
        else:
            out.append(f"{name}={value}:{value}")
    return tuple(out)


def _devices(svc: Mapping[str, Any]) -> tuple[str, ...]:
    out = []
    for item in _list(svc.get("devices")):
        if isinstance(item, dict):
            parts = [_str(item.get("source")), _str(item.get("target")),
                     _str(item.get("permissions"))]
            out.append(":".join(p for p in parts if p))
        else:
            out.append(str(item))
    return tuple(out)


def _str_map(value: Any) -> dict[str, str]:
    return {k: _str(v) for k, v in _kv(value).items() if v is not None}


def _cpus(svc: Mapping[str, Any]) -> int:
    value = svc.get("cpus")
    if value is None:
        value = _get(svc, "deploy", "resources", "limits", "cpus")
    if value is None or isinstance(value, bool):
        return 0
    try:
        return _finite_int(float(str(value)) * 1e9)
    except (ValueError, OverflowError):
        return 0


# ContainerSpec field -> compose key paths that set it, most specific first.
_FIELD_KEYS: dict[str, tuple[tuple[str, ...], ...]] = {
    "image": (("image",), ("build",)),
    "privileged": (("privileged",),),
    "pid_mode": (("pid",),),
    "ipc_mode": (("ipc",),),
    "network_mode": (("network_mode",), ("networks",)),
    "uts_mode": (("uts",),),
    "userns_mode": (("userns_mode",),),
    "mounts": (("volumes",), ("tmpfs",)),
    "cap_add": (("cap_add",),),
    "cap_drop": (("cap_drop",),),
    "security_opt": (("security_opt",),),
    "pids_limit": (("pids_limit",), ("deploy", "resources", "limits", "pids")),
    "memory": (("mem_limit",), ("deploy", "resources", "limits", "memory")),
    "nano_cpus": (("cpus",), ("deploy", "resources", "limits", "cpus"), ("cpu_quota",),
                  ("cpu_shares",), ("cpuset",)),
    "cpu_shares": (("cpu_shares",),),
    "cpu_quota": (("cpu_quota",),),
    "cpuset_cpus": (("cpuset",),),
    "storage_opt": (("storage_opt",),),
    "log_driver": (("logging", "driver"), ("logging",)),
    "log_options": (("logging", "options"), ("logging",)),
    "read_only_rootfs": (("read_only",),),
    "user": (("user",),),
    "devices": (("devices",),),
    "ports": (("ports",),),
    "restart_policy": (("restart",), ("deploy", "restart_policy")),
    "healthcheck": (("healthcheck",),),
    "networks": (("networks",),),
    "cgroup_parent": (("cgroup_parent",),),
    "ulimits": (("ulimits",),),
    "env": (("environment",),),
    "sysctls": (("sysctls",),),
    "labels": (("labels",),),
}


def _field_lines(svc: _Service) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, keypaths in _FIELD_KEYS.items():
        out[name] = svc.line
        for keypath in keypaths:
            where = svc.lines.get(keypath)
            if where is not None and where[0] == svc.ref and _get(svc.data, *keypath) is not None:
                out[name] = where[1]
                break
    return out


def _mode(value: Any) -> str:
    """A namespace mode as the Engine records it: `service:db` becomes `container:db`."""
    text = _str(value)
    return "container:" + text[8:] if text.startswith("service:") else text


def _item_lines(svc: _Service, key: str, values: Sequence[Any]) -> list[int | None]:
    """The line of each of `values` (items of the merged `key` list) in the service's own
    file: matched by value, so items from `extends` or an earlier `-f` file get None."""
    own = _unwrap(svc.own.get(key))
    lines = svc.items.get((key,))
    if not isinstance(own, list) or lines is None or len(lines) != len(own):
        return [None] * len(values)
    where: dict[str, int] = {}
    for item, line in zip(own, lines, strict=True):
        where.setdefault(repr(_plain(item)), line)
    return [where.get(repr(_plain(v))) for v in values]


def _env_lines(svc: _Service) -> dict[str, int]:
    """Variable name -> its line, for `environment:` as a mapping or a list."""
    own = _unwrap(svc.own.get("environment"))
    out: dict[str, int] = {}
    if isinstance(own, dict):
        for name in own:
            where = svc.lines.get(("environment", str(name)))
            if where is not None and where[0] == svc.ref:
                out[str(name)] = where[1]
    elif isinstance(own, list):
        lines = svc.items.get(("environment",))
        if lines is not None and len(lines) == len(own):
            for item, line in zip(own, lines, strict=True):
                out[str(_unwrap(item)).partition("=")[0].strip()] = line
    return out


def _item_keys(field_name: str, lines: Sequence[int | None]) -> dict[str, int]:
    return {f"{field_name}:{i}": line for i, line in enumerate(lines) if line is not None}


def _spec(name: str, svc: _Service, top_volumes: Mapping[str, Any],
          loader: _Loader) -> ContainerSpec:
    d = _normalise(_clean(svc.data))
    where = f"{svc.ref}: service {name}"
    image = _str(d.get("image"))
    image_user: Fact[str | None] = None
    image_user_from = image_user_source = ""
    if d.get("build") is not None and not _str(d.get("user")):
        image_user, image_user_from = loader.dockerfile_user(d.get("build"), where)
    elif image and not _str(d.get("user")):
        image_user, image_user_source = loader.image_user(image)
        image_user_from = image
    network_mode = _mode(d.get("network_mode"))
    nets = d.get("networks")
    networks: tuple[str, ...] = ()
    if not network_mode:
        networks = tuple(str(n) for n in nets) if isinstance(nets, dict) and nets else (
            "default",)
    pids = _int(d.get("pids_limit"))
    if pids is None:
        pids = _int(_get(d, "deploy", "resources", "limits", "pids"))
    memory = parse_size(d.get("mem_limit")) or parse_size(
        _get(d, "deploy", "resources", "limits", "memory"))
    logging = d.get("logging") if isinstance(d.get("logging"), dict) else {}
    assert isinstance(logging, dict)
    restart, retries = _restart(d)
    env = tuple((k, "" if v is None else _str(v)) for k, v in _kv(d.get("environment")).items())
    volumes, tmpfs = _list(d.get("volumes")), _list(d.get("tmpfs"))
    ports = _ports(d)
    lines = _field_lines(svc)
    env_lines = _env_lines(svc)
    lines.update({f"env:{k}": env_lines[k] for k, _ in env if k in env_lines})
    lines.update(_item_keys("mounts", _item_lines(svc, "volumes", volumes)
                            + _item_lines(svc, "tmpfs", tmpfs)))
    lines.update(_item_keys("ports", _item_lines(svc, "ports", [i for i, _ in ports])))
    lines.update(_item_keys("devices", _item_lines(svc, "devices", _list(d.get("devices")))))
    lines.update(_item_keys("cap_add", _item_lines(svc, "cap_add", _list(d.get("cap_add")))))
    return ContainerSpec(
        name=name,
        target=Target(TargetKind.COMPOSE, svc.ref, service=name),
        source=Source.COMPOSE,
        image=image,
        privileged=d.get("privileged") is True,
        pid_mode=_mode(d.get("pid")),
        ipc_mode=_mode(d.get("ipc")),
        network_mode=network_mode,
        uts_mode=_str(d.get("uts")),
        userns_mode=_str(d.get("userns_mode")),
        mounts=tuple(_mounts(d, top_volumes)),
        cap_add=tuple(str(c) for c in _list(d.get("cap_add"))),
        cap_drop=tuple(str(c) for c in _list(d.get("cap_drop"))),
        security_opt=tuple(str(s) for s in _list(d.get("security_opt"))),
        pids_limit=pids,
        memory=memory,
        nano_cpus=_cpus(d),
        cpu_shares=_int(d.get("cpu_shares")) or 0,
        cpu_quota=_int(d.get("cpu_quota")) or 0,
        cpuset_cpus=_str(d.get("cpuset")),
        storage_opt=_str_map(d.get("storage_opt")),
        log_driver=_str(logging.get("driver")),
        log_options=_str_map(logging.get("options")),
        read_only_rootfs=d.get("read_only") is True,
        user=_str(d.get("user")),
        devices=_devices(d),
        ports=tuple(binding for _, binding in ports),
        restart_policy=restart,
        restart_max_retries=retries,
        healthcheck=_healthcheck(d),
        networks=networks,
        cgroup_parent=_str(d.get("cgroup_parent")),
        ulimits=_ulimits(d),
        env=env,
        sysctls=_str_map(d.get("sysctls")),
        labels=_str_map(d.get("labels")),
        processes=Unknown("a compose file does not say which processes run"),
        exec_sessions=(),
        lines=lines,
        image_user=image_user,
        image_user_from=image_user_from,
        image_user_source=image_user_source,
    )
