"""Synthetic OSV Debian advisories for the vulnerability database benchmark.

`synthetic_debian_osv_zip(path, n=50_000, seed=0)` writes an archive laid out like the
`Debian/all.zip` osv.dev publishes: one `DEBIAN-CVE-*.json` document per member, source
package names, `Debian:11/12/13` ecosystems, ECOSYSTEM ranges (introduced "0" or a
version, fixed or open), explicit `versions` lists for open ones, `upstream` CVE ids,
urgencies and some CVSS v3 vectors. Versions look like Debian's: epochs (`1:2.3.4-1`),
`+dfsg`, `~deb11u1`, `+deb12u3` security updates and `+b1` binNMUs. A few packages
(`linux`, `chromium`, ...) carry many advisories, most carry a few, as in the real data.

Same (n, seed) -> byte-identical file: members have fixed timestamps and are written in
order. `source_packages(seed)` is the package pool and `installed(n, seed)` an inventory
of (source package, version) pairs drawn from it, for matching benchmarks.
"""

from __future__ import annotations

import json
import random
import zipfile
from pathlib import Path
from typing import Any

_SYLLABLES = ("al", "ba", "cor", "dex", "el", "fen", "gir", "hal", "ix", "jo", "ka", "lum",
              "mor", "nex", "ol", "pra", "qu", "ros", "sul", "tin", "ur", "vel", "wex",
              "xan", "yor", "zel")
_SHAPES = ("lib{w}", "lib{w}{d}", "python-{w}", "node-{w}", "golang-{w}", "ruby-{w}",
           "lib{w}-perl", "{w}", "{w}-utils", "{w}{d}", "php-{w}", "r-cran-{w}")
_HEAVY = ("linux", "chromium", "firefox-esr", "thunderbird", "openjdk-17", "imagemagick",
          "php8.2", "tiff", "binutils", "qemu", "wireshark", "tcpdump", "glibc", "openssl",
          "curl", "vim", "ghostscript", "libxml2", "postgresql-15", "mariadb")
_RELEASES = (("11", "deb11u"), ("12", "deb12u"), ("13", ""))
_URGENCY = ("not yet assigned", "unimportant", "low", "medium", "high")
_VECTORS = ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H",
            "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H",
            "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:N/A:H",
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N",
            "CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H")
_STAMP = (2024, 1, 1, 0, 0, 0)


def source_packages(seed: int = 0, size: int = 6000) -> list[str]:
    """The package pool: the heavy hitters first, then generated source names."""
    rng = random.Random(seed)
    names = list(_HEAVY)
    seen = set(names)
    while len(names) < size:
        word = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3)))
        name = rng.choice(_SHAPES).format(w=word, d=rng.randint(1, 9))
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def _pick(rng: random.Random, pool: list[str]) -> str:
    """Skewed: a quarter of the advisories go to the heavy hitters, a third to the next
    500 names, the rest anywhere (as `linux` dominates the real data)."""
    r = rng.random()
    if r < 0.25:
        return pool[rng.randrange(len(_HEAVY))]
    if r < 0.6:
        return pool[len(_HEAVY) + rng.randrange(500)]
    return pool[rng.randrange(len(pool))]


def _upstream(rng: random.Random) -> str:
    parts = [str(rng.randint(0, 12)), str(rng.randint(0, 40))]
    if rng.random() < 0.6:
        parts.append(str(rng.randint(0, 30)))
    text = ".".join(parts)
    return text + rng.choice(("", "", "", "+dfsg", "+ds", "+really" + text))


def _version(rng: random.Random, epoch: str, upstream: str, suffix: str, update: int) -> str:
    rev = str(rng.randint(1, 9))
    if suffix and update:
        rev += f"+{suffix}{update}"
    elif rng.random() < 0.1:
        rev += "~bpo11+1"
    return f"{epoch}{upstream}-{rev}"


def _document(rng: random.Random, index: int, pool: list[str]) -> dict[str, Any]:
    year = 2014 + index % 11
    cve = f"CVE-{year}-{10000 + index}"
    name = _pick(rng, pool)
    epoch = rng.choice(("", "", "", "", "", "", "1:", "2:"))
    upstream = _upstream(rng)
    affected = []
    releases = rng.sample(_RELEASES, rng.randint(1, 3))
    for number, suffix in sorted(releases):
        package = {"name": name, "ecosystem": f"Debian:{number}",
                   "purl": f"pkg:deb/debian/{name}?arch=source"}
        entry: dict[str, Any] = {"package": package,
                                 "ecosystem_specific": {"urgency": rng.choice(_URGENCY)}}
        introduced = "0" if rng.random() < 0.85 else f"{epoch}0.{rng.randint(1, 9)}-1"
        if rng.random() < 0.8:
            fixed = _version(rng, epoch, upstream, suffix, rng.randint(1, 6))
            entry["ranges"] = [{"type": "ECOSYSTEM",
                                "events": [{"introduced": introduced}, {"fixed": fixed}]}]
        else:  # open: no fix yet, the affected versions listed
            entry["ranges"] = [{"type": "ECOSYSTEM", "events": [{"introduced": introduced}]}]
            base = _version(rng, epoch, upstream, suffix, 0)
            versions = [base] + [_version(rng, epoch, upstream, suffix, u)
                                 for u in range(1, rng.randint(1, 4))]
            if rng.random() < 0.2:
                versions.append(base + "+b1")
            entry["versions"] = versions
        affected.append(entry)
    doc: dict[str, Any] = {
        "schema_version": "1.6.0",
        "id": f"DEBIAN-{cve}",
        "modified": f"{2024 + index % 2}-0{1 + index % 9}-1{index % 10}T00:00:00Z",
        "published": f"{year}-0{1 + index % 9}-0{1 + index % 9}T12:00:00Z",
        "upstream": [cve],
        "details": f"A flaw in {name} allows a remote attacker to cause a denial of service "
                   f"or possibly execute code via crafted input (synthetic record {index}).",
        "affected": affected,
        "references": [{"type": "ADVISORY",
                        "url": f"https://security-tracker.debian.org/tracker/{cve}"}],
    }
    if rng.random() < 0.3:
        doc["severity"] = [{"type": "CVSS_V3", "score": rng.choice(_VECTORS)}]
    return doc


def synthetic_debian_osv_zip(path: Path | str, n: int = 50_000, seed: int = 0) -> Path:
    """Write n synthetic OSV Debian advisories to `path` (a zip); returns the path."""
    path = Path(path)
    rng = random.Random(seed)
    pool = source_packages(seed)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for i in range(n):
            doc = _document(rng, i, pool)
            info = zipfile.ZipInfo(f"{doc['id']}.json", date_time=_STAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, json.dumps(doc, separators=(",", ":")))
    return path


def installed(n: int = 2000, seed: int = 0) -> list[tuple[str, str]]:
    """n (source package, installed version) pairs from the pool, Debian-shaped versions
    (some with epochs and +bN); names repeat only as often as binary packages of one
    source would."""
    rng = random.Random(seed + 1)
    pool = source_packages(seed)
    out = []
    for _ in range(n):
        epoch = rng.choice(("", "", "", "", "", "", "1:", "2:"))
        version = _version(rng, epoch, _upstream(rng), "deb12u", rng.randint(0, 3))
        if rng.random() < 0.05:
            version += "+b1"
        out.append((_pick(rng, pool), version))
    return out


if __name__ == "__main__":  # python bench/_vulndata.py OUT.zip [N]
    import sys
    import time

    t0 = time.perf_counter()
    out = synthetic_debian_osv_zip(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2
                                   else 50_000)
    print(f"{out}: {out.stat().st_size} bytes in {time.perf_counter() - t0:.1f} s")
