"""Accepted risks (`--ignore FILE`): each entry names a check, optionally a target, a
reason (required) and an expiry date after which it no longer applies.

```yaml
- check: DW214          # a check id
  target: build-*       # optional: fnmatch pattern on target ref (or id)
  reason: batch jobs are bounded by the scheduler
  expires: 2027-03-31   # optional
```
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from fnmatch import fnmatchcase

import yaml

from dockwarden.errors import InputError
from dockwarden.model.finding import Finding

MAX_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class Accepted:
    check: str
    target: str | None
    reason: str
    expires: dt.date | None

    def matches(self, f: Finding, today: dt.date) -> bool:
        if self.expires is not None and self.expires < today:
            return False
        if f.check != self.check:
            return False
        if self.target is None:
            return True
        return fnmatchcase(f.target.ref, self.target) or bool(
            f.target.id and fnmatchcase(f.target.id, self.target))


def parse(text: str, origin: str) -> list[Accepted]:
    if len(text) > MAX_BYTES:
        raise InputError(f"{origin}: ignore file larger than 1 MiB")
    try:
        # Aliases are refused by the loader below, so anchors cannot expand (YAML bombs).
        data = yaml.load(text, Loader=_NoAliasLoader)
    except yaml.YAMLError as exc:
        raise InputError(f"{origin}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if data is None:
        return []
    if isinstance(data, dict) and "ignore" in data:
        data = data["ignore"]
    if not isinstance(data, list):
        raise InputError(f"{origin}: expected a list of entries with check and reason")
    out = []
    for i, entry in enumerate(data, 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("check"), str):
            raise InputError(f"{origin}: entry {i} has no check id")
        reason = entry.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise InputError(f"{origin}: entry {i} ({entry['check']}) needs a reason")
        expires = entry.get("expires")
        if isinstance(expires, str):
            try:
                expires = dt.date.fromisoformat(expires)
            except ValueError:
                raise InputError(f"{origin}: entry {i}: expires is not a YYYY-MM-DD date") \
                    from None
        elif expires is not None and not isinstance(expires, dt.date):
            raise InputError(f"{origin}: entry {i}: expires is not a YYYY-MM-DD date")
        target = entry.get("target")
        out.append(Accepted(entry["check"].strip().upper(),
                            str(target) if target is not None else None, reason.strip(),
                            expires))
    return out


class _NoAliasLoader(yaml.SafeLoader):
    def compose_node(self, parent, index):  # type: ignore[no-untyped-def]
        if self.check_event(yaml.AliasEvent):
            raise yaml.YAMLError("aliases are not allowed in an ignore file")
        return super().compose_node(parent, index)
