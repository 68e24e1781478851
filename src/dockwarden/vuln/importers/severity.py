"""One severity scale for every source: CVSS vectors scored with the `cvss` library, and
the words each distribution or database uses mapped onto critical/high/medium/low."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

# The qualitative scale of CVSS v3/v4 (v2 uses the same score bands minus critical).
_BANDS = ((9.0, "critical"), (7.0, "high"), (4.0, "medium"), (0.1, "low"))

# Words found in OSV `database_specific.severity` (GitHub: MODERATE), Ubuntu priorities
# (negligible), Debian urgencies (unimportant), Red Hat (important) and the like.
_WORDS = {
    "critical": "critical",
    "high": "high", "important": "high",
    "medium": "medium", "moderate": "medium",
    "low": "low", "negligible": "low", "unimportant": "low", "minor": "low",
}


def from_score(score: float) -> str:
    for floor, name in _BANDS:
        if score >= floor:
            return name
    return ""


def from_word(word: str) -> str:
    """`MODERATE` -> medium, `unimportant` -> low; "" for unknown words (untriaged,
    "not yet assigned")."""
    return _WORDS.get(word.strip().strip("*").lower(), "")


@dataclass(frozen=True, slots=True)
class Scored:
    vector: str
    score: float
    severity: str


@lru_cache(maxsize=8192)
def score_vector(kind: str, vector: str) -> Scored | None:
    """Score an OSV severity entry (`CVSS_V2`, `CVSS_V3`, `CVSS_V4`); None when the
    vector does not parse. Cached: real data repeats a few hundred vectors thousands of
    times, and scoring one is the costliest step of an import."""
    from cvss import CVSS2, CVSS3, CVSS4
    from cvss.exceptions import CVSSError

    try:
        if kind == "CVSS_V3":
            score = float(CVSS3(vector).base_score)
        elif kind == "CVSS_V4":
            score = float(CVSS4(vector).base_score)
        elif kind == "CVSS_V2":
            score = float(CVSS2(vector).base_score)
        else:
            return None
    except (CVSSError, ValueError, KeyError, TypeError, IndexError, ArithmeticError):
        return None
    return Scored(vector, score, from_score(score))
