"""OpenVEX documents (`--vex FILE`): statements that a vulnerability does not affect (or
was fixed in) a product suppress the matching DW309/DW310 findings. Suppressed
findings go to the report's `ignored` list with the statement as the reason; nothing is
dropped silently.

Read by hand: an OpenVEX document is a small JSON object, and the Python packages that
model it bring far more than the few fields needed here. Both the current layout (v0.2:
`vulnerability` an object with `name`, `@id`, `aliases`; `products` objects with `@id`,
`identifiers.purl` and `subcomponents`) and the first one (strings) are accepted.

Matching a finding (one vulnerability of one package of one image):
- vulnerability: the statement's name, `@id` (a URL's last segment too) or an alias is
  one of the finding's ids or aliases (case-insensitive);
- product: a package URL of a package type (`pkg:deb/...`, `pkg:pypi/...`) names the
  package (type and name; the version too when the purl has one); any other product
  names the image (its reference, its id, or an OCI/docker purl of the same repository)
  and then applies to every package in it, or to its `subcomponents` only when listed;
  a statement without products applies to every package;
- when several statements match, the latest (statement timestamp, else the document's;
  file order breaks ties) decides: `not_affected` and `fixed` suppress, `affected` and
  `under_investigation` keep the finding.

Hostile input (not JSON, too large, too deep, wrong types, unknown status, text with a
lone surrogate, more than `MAX_NODES` objects and arrays) is an `InputError`: one line,
exit 2. Files are read through `safeio.read_input`: a FIFO, a device or a folder given
as `--vex` is refused at once, never a hang.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from packageurl import PackageURL

from dockwarden.errors import InputError
from dockwarden.model.finding import Finding, Target
from dockwarden.sanitize import clean

MAX_BYTES = 16 << 20
MAX_STATEMENTS = 100_000
MAX_NODES = 1_000_000  # JSON objects and arrays in one document (counted before decoding)
_SURROGATE = re.compile("[\ud800-\udfff]")
STATUSES = frozenset({"not_affected", "affected", "fixed", "under_investigation"})
SUPPRESS = frozenset({"not_affected", "fixed"})
PACKAGE_TYPES = frozenset({"deb", "apk", "rpm", "pypi", "npm", "golang", "cargo", "gem",
                           "maven", "nuget", "composer"})
_TRAILING_ID = re.compile(r"([A-Za-z][A-Za-z0-9]*-[A-Za-z0-9][A-Za-z0-9._:-]*)/?$")
_PEP503 = re.compile(r"[-_.]+")
_ID_TAIL = 200  # characters at the end of a name searched for a trailing id


@dataclass(frozen=True, slots=True)
class Ref:
    """A product or subcomponent identifier."""

    raw: str
    type: str = ""  # purl type, "" when not a purl
    namespace: str = ""
    name: str = ""
    version: str = ""


@dataclass(frozen=True, slots=True)
class Statement:
    ids: frozenset[str]  # upper case
    products: tuple[tuple[Ref, tuple[Ref, ...]], ...]  # (product, its subcomponents)
    status: str
    justification: str
    timestamp: dt.datetime | None
    origin: str
    order: int

    def reason(self) -> str:
        why = f": {self.justification}" if self.justification else ""
        return f"VEX {self.origin}: {self.status}{why}"


def _fail(origin: str, message: str) -> InputError:
    return InputError(f"{clean(origin)}: not a usable OpenVEX document: {clean(message)}")


def _str(value: Any, origin: str, what: str, *, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise _fail(origin, f"{what} must be a string")
    if len(value) > 4096:
        raise _fail(origin, f"{what} is longer than 4096 characters")
    if not value.isascii() and _SURROGATE.search(value):
        raise _fail(origin, f"{what} is not valid Unicode (a lone surrogate)")
    return value.strip()


def _time(value: Any, origin: str, what: str) -> dt.datetime | None:
    text = _str(value, origin, what)
    if not text:
        return None
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise _fail(origin, f"{what} {text[:40]!r} is not an RFC 3339 time") from None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def _ref(raw: str) -> Ref:
    if raw.startswith("pkg:"):
        try:
            p = PackageURL.from_string(raw)
        except (ValueError, TypeError, AttributeError, IndexError, KeyError,
                UnicodeError):
            return Ref(raw)
        name = str(p.name)
        if p.type == "pypi":
            name = _PEP503.sub("-", name).lower()
        return Ref(raw, str(p.type), str(p.namespace or ""), name, str(p.version or ""))
    return Ref(raw)


def _component(value: Any, origin: str, what: str) -> Ref:
    if isinstance(value, str):
        return _ref(_str(value, origin, what, required=True))
    if not isinstance(value, dict):
        raise _fail(origin, f"{what} must be a string or an object")
    ident = value.get("identifiers")
    if ident is not None and not isinstance(ident, dict):
        raise _fail(origin, f"{what}.identifiers must be an object")
    purl = _str((ident or {}).get("purl"), origin, f"{what}.identifiers.purl")
    at_id = _str(value.get("@id"), origin, f"{what}.@id")
    if not purl and not at_id:
        raise _fail(origin, f"{what} has neither @id nor identifiers.purl")
    return _ref(purl or at_id)


def _ids(value: Any, origin: str, what: str) -> frozenset[str]:
    names: list[str] = []
    if isinstance(value, str):
        names.append(_str(value, origin, what, required=True))
    elif isinstance(value, dict):
        for key in ("name", "@id"):
            text = _str(value.get(key), origin, f"{what}.{key}")
            if text:
                names.append(text)
        aliases = value.get("aliases", [])
        if not isinstance(aliases, list) or len(aliases) > 1000:
            raise _fail(origin, f"{what}.aliases must be a list of strings")
        names += [_str(a, origin, f"{what}.aliases", required=True) for a in aliases]
    else:
        raise _fail(origin, f"{what} must be a string or an object")
    out = set()
    for n in names:
        out.add(n.upper())
        m = _TRAILING_ID.search(n[-_ID_TAIL:])  # bounded: the pattern backtracks
        if m:
            out.add(m.group(1).upper())
    if not out:
        raise _fail(origin, f"{what} names no vulnerability")
    return frozenset(out)


def parse(data: bytes, origin: str, start: int = 0) -> list[Statement]:
    """The statements of one document (`start` numbers them after earlier files')."""
    if len(data) > MAX_BYTES:
        raise _fail(origin, "larger than 16 MiB")
    if data.count(b"{") + data.count(b"[") > MAX_NODES:
        raise _fail(origin, f"more than {MAX_NODES:,} JSON objects and arrays")
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise _fail(origin, "not UTF-8 text") from None
    except RecursionError:
        raise _fail(origin, "JSON nested too deeply") from None
    except ValueError as exc:
        raise _fail(origin, f"not JSON ({str(exc).splitlines()[0][:80]})") from None
    if not isinstance(doc, dict):
        raise _fail(origin, "the document must be a JSON object")
    context = doc.get("@context", "")
    if not isinstance(context, str) or "openvex" not in context.lower():
        raise _fail(origin, "no OpenVEX @context")
    statements = doc.get("statements")
    if not isinstance(statements, list):
        raise _fail(origin, "statements must be a list")
    if len(statements) > MAX_STATEMENTS:
        raise _fail(origin, f"more than {MAX_STATEMENTS} statements")
    doc_time = _time(doc.get("timestamp"), origin, "timestamp")
    doc_time = _time(doc.get("last_updated"), origin, "last_updated") or doc_time
    doc_products = doc.get("products")  # some producers put them on the document
    out = []
    for i, st in enumerate(statements, 1):
        where = f"statement {i}"
        if not isinstance(st, dict):
            raise _fail(origin, f"{where} must be an object")
        status = _str(st.get("status"), origin, f"{where}.status", required=True)
        if status not in STATUSES:
            raise _fail(origin, f"{where}: unknown status {status[:40]!r}")
        ids = _ids(st.get("vulnerability"), origin, f"{where}.vulnerability")
        products_raw = st.get("products", doc_products) or []
        if not isinstance(products_raw, list) or len(products_raw) > 100_000:
            raise _fail(origin, f"{where}.products must be a list")
        products = []
        for j, p in enumerate(products_raw, 1):
            ref = _component(p, origin, f"{where}.products[{j}]")
            subs_raw = p.get("subcomponents", []) if isinstance(p, dict) else []
            if not isinstance(subs_raw, list) or len(subs_raw) > 100_000:
                raise _fail(origin, f"{where}.products[{j}].subcomponents must be a list")
            subs = tuple(_component(s, origin, f"{where}.products[{j}].subcomponents")
                         for s in subs_raw)
            products.append((ref, subs))
        # v0.0.x: statement-level subcomponents
        top_subs = st.get("subcomponents")
        if top_subs is not None:
            if not isinstance(top_subs, list):
                raise _fail(origin, f"{where}.subcomponents must be a list")
            subs = tuple(_component(s, origin, f"{where}.subcomponents") for s in top_subs)
            products = [(ref, ref_subs or subs) for ref, ref_subs in products] or \
                [(Ref(""), subs)]
        justification = _str(st.get("justification"), origin, f"{where}.justification") \
            or _str(st.get("impact_statement"), origin, f"{where}.impact_statement")[:200]
        when = _time(st.get("last_updated"), origin, f"{where}.last_updated") or \
            _time(st.get("timestamp"), origin, f"{where}.timestamp") or doc_time
        out.append(Statement(ids, tuple(products), status, justification, when, origin,
                             start + i))
    return out


def load(paths: Sequence[str]) -> list[Statement]:
    """The statements of every file, in order; InputError (exit 2) for a file that is
    not a regular file, is over `MAX_BYTES` or is not a usable OpenVEX document."""
    from dockwarden.safeio import read_input

    out: list[Statement] = []
    for path in paths:
        data = read_input(path, what="VEX file", max_bytes=MAX_BYTES)
        out.extend(parse(data, path, start=len(out)))
    return out


def _repo_base(ref: str) -> str:
    name = ref.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[0].lower()


def _names_image(ref: Ref, target: Target) -> bool:
    if not ref.raw:
        return True  # statement-level subcomponents without products
    if ref.raw == target.ref:
        return True
    if target.id:
        hexid = target.id.split(":", 1)[-1]
        if hexid and hexid in ref.raw:
            return True
    if ref.type in ("oci", "docker"):
        return bool(ref.name) and ref.name.lower() == _repo_base(target.ref)
    return False


def _names_package(ref: Ref, evidence: dict[str, Any]) -> bool:
    if ref.type not in PACKAGE_TYPES or ref.type != evidence.get("package_type"):
        return False
    names = {str(evidence.get("package", ""))}
    if ref.type != "pypi":
        names = {n.lower() for n in names}
        name = ref.name.lower()
    else:
        names = {_PEP503.sub("-", n).lower() for n in names}
        name = ref.name
    if name not in names:
        return False
    return not ref.version or ref.version == evidence.get("installed")


def statement_applies(st: Statement, f: Finding) -> bool:
    ev = f.evidence
    ids = {str(i).upper() for i in ev.get("ids") or ()}
    if ev.get("id"):
        ids.add(str(ev["id"]).upper())
    if not ids & st.ids:
        return False
    if not st.products:
        return True
    for product, subs in st.products:
        if product.type in PACKAGE_TYPES:
            if _names_package(product, ev):
                return True
        elif _names_image(product, f.target) and \
                (not subs or any(_names_package(s, ev) for s in subs)):
            return True
    return False


_EPOCH = dt.datetime.min.replace(tzinfo=dt.UTC)


def decide(statements: Iterable[Statement], f: Finding) -> Statement | None:
    """The statement that decides a finding (the latest that applies), or None."""
    best: Statement | None = None
    for st in statements:
        if statement_applies(st, f) and (
                best is None
                or (st.timestamp or _EPOCH, st.order) >= (best.timestamp or _EPOCH, best.order)):
            best = st
    return best


def apply(findings: Iterable[Finding], statements: Sequence[Statement],
          checks: frozenset[str] = frozenset({"DW309", "DW310"})
          ) -> tuple[list[Finding], list[tuple[Finding, str]]]:
    """(kept, suppressed with the reason) for the vulnerability findings."""
    kept: list[Finding] = []
    suppressed: list[tuple[Finding, str]] = []
    for f in findings:
        st = decide(statements, f) if statements and f.check in checks else None
        if st is not None and st.status in SUPPRESS:
            suppressed.append((f, st.reason()))
        else:
            kept.append(f)
    return kept, suppressed
