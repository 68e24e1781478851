"""Secret detection: the one place the rules live (DW233, DW303, DW304, DW517).

Pure: no I/O, no imports from `collect` or `checks`, so both sides use it.

- `RULES`: content rules, run by `scan_text` over any text (a file, a label, a history
  step). Each is a regex with a named group `secret` where the secret is only part of the
  match; the redacted form is made from that part.
- `FILE_RULES`: rules on a file's name, some confirmed by its content
  (`.aws/credentials` must hold a key, a `*.pem` must hold a private key), some by the
  name alone (`*.p12`). `file_rules(path)` is the cheap name test the image analyzer
  runs on every file; `scan_file(path, text)` combines both kinds.
- `scan_env`: the environment-variable semantics of DW233 (value rules first, then
  secret-looking names with placeholders, `*_FILE` and friends excluded).
- `fixed_credentials`: passwords a shell command writes out (chpasswd, SQL `IDENTIFIED BY`,
  `X_PASSWORD=...`): DW517's findings, and hidden by `redact_command`/`redact_argv` in
  every command any evidence shows.

Regex safety: no repeat contains another, repeats are bounded or possessive where a
match could otherwise run on, and content patterns start at a literal (their `anchors`;
what may precede it is a fixed-width look-behind), so scanning is linear in the input.
tests/test_secrets.py checks the patterns' structure and runs them over 1 MB
adversarial strings. A content rule's pattern is only tried where one of its lower-case
`anchors` occurs, found with `str.find`, which keeps clean files cheap (about 40 MB/s
of Python source on one core; the tests check the result equals a plain `finditer`).

`rules_for(data)` looks first, over the raw bytes of a file, for every anchor of every rule
at once (Hyperscan, a multi-literal search in C: about 700 MB/s with the call per file
included, against 40 MB/s for the 22 `str.find` passes it saves): most files of an image
hold none, and those need neither decoding nor scanning; the others are scanned with the
rules whose anchors they hold. Without the `hyperscan` module (a platform without its
wheel) it answers with every rule, and every file takes the full path.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import NamedTuple

from dockwarden.model.common import Severity

MAX_MATCHES = 25  # per scanned text: a dump of 10,000 keys reports the first 25
MAX_ASSIGNMENTS = 10_000  # NAME=value lines judged per dotenv file or history step


def redact(value: str) -> str:
    """Show enough of a secret to recognise it, never the secret itself: at most the
    first 3 and last 2 characters, and only stars for 8 characters or fewer."""
    if len(value) <= 8:
        return "*" * len(value)
    return value[:3] + "*" * min(len(value) - 5, 12) + value[-2:]


# --- placeholders ---------------------------------------------------------------------

_STOPWORDS = frozenset({
    "", "none", "null", "nil", "false", "true", "yes", "no", "on", "off", "undefined",
    "enabled", "disabled", "required", "optional", "default", "empty", "unset",
    "pass", "passwd", "password", "pwd", "secret", "token", "apikey", "api_key", "key",
    "changeme", "change_me", "change-me", "changeit", "test", "testing", "dummy", "fake",
    "example", "sample", "foo", "bar", "foobar", "user", "username", "admin", "hidden",
    "masked", "redacted", "placeholder", "todo", "tbd", "fixme", "trust", "md5",
    "scram-sha-256", "basic", "bearer", "digest", "oauth", "oauth2", "jwt", "ldap", "plain",
})
_TEMPLATE_MARKERS = (
    "<", ">", "{{", "${", "$(", "%(", "#{", "xxxx", "****", "....", "your_", "your-",
    "yourpass", "yoursecret", "yourtoken",
)
_DOC_MARKERS = ("example", "changeme", "change_me", "change-me", "placeholder", "redacted",
                "dummy")


def is_placeholder(value: str, *, strict: bool = True) -> bool:
    """True for values that stand for a secret rather than being one: empty, booleans,
    `changeme`, `<password>`, `${VAR}`, `$VAR`, `%(var)s`, `xxxx`, `***`, `your_token`,
    values of fewer than 3 distinct characters (`aaaa`, `1111`) and, when `strict`,
    anything containing `example`, `placeholder`, `dummy`... (not strict: inside a file
    whose name already says it holds credentials, AWS's documented example key counts)."""
    v = value.strip().strip("\"'")
    low = v.lower()
    if low in _STOPWORDS or v[:1] in ("$", "%"):
        return True
    if any(marker in low for marker in _TEMPLATE_MARKERS):
        return True
    if strict and any(marker in low for marker in _DOC_MARKERS):
        return True
    return len(set(low)) < 3


def _real(value: str) -> bool:
    return not is_placeholder(value)


def _not_template(value: str) -> bool:
    return not is_placeholder(value, strict=False)


def _basic_auth(value: str) -> bool:
    """A Docker config `auth` value: base64 of `user:password`."""
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    user, sep, password = decoded.partition(b":")
    return bool(sep and user and password)


# --- content rules --------------------------------------------------------------------

class Rule(NamedTuple):
    """A content rule. `pattern` may hold a group named `secret` (else the whole match
    is the secret); `accept` filters the secret value (placeholders).

    `anchors` are lower-case literals, and every match of `pattern` starts where one of
    them occurs (case-insensitively). The pattern is then only tried at those offsets,
    found with `str.find` on the lower-cased text, instead of at every position: that
    is what makes a rule whose pattern starts with a case-insensitive alternation
    (`password|secret|api_key...`) cheap. No anchors: plain `finditer`."""

    id: str
    title: str
    pattern: Pattern
    severity: Severity = Severity.HIGH
    anchors: tuple[str, ...] = ()
    accept: Callable[[str], bool] | None = None

    def _matches(self, scan: _Text) -> Iterator[re.Match[str]]:
        if not self.anchors:
            yield from self.pattern.finditer(scan.text)
            return
        if not scan.aligned:  # a Unicode case mapping changed lengths: no offsets
            if any(a in scan.low for a in self.anchors):
                yield from self.pattern.finditer(scan.text)
            return
        if len(self.anchors) == 1:
            starts = scan.offsets(self.anchors[0])
        else:
            found = [hits for hits in map(scan.offsets, self.anchors) if hits]
            if not found:
                return
            starts = found[0] if len(found) == 1 else sorted(set().union(*found))
        if len(starts) > 4096 and len(starts) * 16 > len(scan.text):
            # anchors everywhere (hostile input): the C loop of finditer is faster
            yield from self.pattern.finditer(scan.text)
            return
        end = 0
        match = self.pattern.compiled().match
        for i in starts:
            if i < end:
                continue  # inside the previous match, as finditer would skip it
            m = match(scan.text, i)
            if m is not None:
                end = max(m.end(), i + 1)
                yield m

    def secrets(self, text: str | _Text, limit: int = MAX_MATCHES
                ) -> list[tuple[int, int, str]]:
        """(start, end, secret) of each accepted match in `text`, at most `limit`; the
        offsets are the secret's (the `secret` group), not the whole match's."""
        scan = text if isinstance(text, _Text) else _Text(text)
        out: list[tuple[int, int, str]] = []
        grouped = "secret" in self.pattern.groupindex
        for m in self._matches(scan):
            group = "secret" if grouped and m.group("secret") is not None else 0
            secret = m.group(group)
            if self.accept is None or self.accept(secret):
                out.append((m.start(group), m.end(group), secret))
                if len(out) >= limit:
                    break
        return out


class _Text:
    """A text being scanned, lower-cased once, with the offsets of each anchor found so
    far (rules share anchors: `secret`)."""

    __slots__ = ("_offsets", "aligned", "low", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.low = text.lower()
        self.aligned = len(self.low) == len(text)
        self._offsets: dict[str, list[int]] = {}

    def offsets(self, anchor: str) -> list[int]:
        found = self._offsets.get(anchor)
        if found is None:
            found = []
            low, i = self.low, self.low.find(anchor)
            while i != -1:
                found.append(i)
                i = low.find(anchor, i + 1)
            self._offsets[anchor] = found
        return found


class Pattern:
    """A regex compiled on first use, with the `re.Pattern` methods this module calls.
    Most rules never run in a given process (a pattern is tried only where one of its
    anchors occurs, and most files hold none), and compiling all of them took 6-7 ms of
    every start."""

    __slots__ = ("_compiled", "flags", "pattern")

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self.pattern, self.flags = pattern, flags
        self._compiled: re.Pattern[str] | None = None

    def compiled(self) -> re.Pattern[str]:
        if self._compiled is None:
            self._compiled = re.compile(self.pattern, self.flags)
        return self._compiled

    @property
    def groupindex(self) -> Mapping[str, int]:
        return self.compiled().groupindex

    def match(self, text: str, pos: int = 0) -> re.Match[str] | None:
        return self.compiled().match(text, pos)

    def fullmatch(self, text: str) -> re.Match[str] | None:
        return self.compiled().fullmatch(text)

    def search(self, text: str) -> re.Match[str] | None:
        return self.compiled().search(text)

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        return self.compiled().finditer(text)

    def __repr__(self) -> str:
        return f"Pattern({self.pattern!r})"


PATTERNS: list[Pattern] = []  # every regex of this module, for the safety test


def _rx(pattern: str, flags: int = 0) -> Pattern:
    compiled = Pattern(pattern, flags)
    PATTERNS.append(compiled)
    return compiled


_SEP = r"""["']?[ \t]{0,4}(?:=>|:=|[:=])[ \t]{0,4}"""  # key "= / : / => / :=" value

PRIVATE_KEY = Rule(
    "private-key", "Private key", _rx(
        # -----BEGIN (RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY( BLOCK)?-----,
        # anchored at "PRIVATE KEY" (a faster search than "-----"), the start looked behind
        r"(?:(?<=-----BEGIN )|(?<=-----BEGIN RSA )|(?<=-----BEGIN EC )|(?<=-----BEGIN DSA )"
        r"|(?<=-----BEGIN OPENSSH )|(?<=-----BEGIN ENCRYPTED )|(?<=-----BEGIN PGP ))"
        r"PRIVATE KEY(?: BLOCK)?-----"
        # key material must follow, so code that merely names the header is silent;
        # `\n` escaped covers keys inside JSON (cloud service-account files)
        r"(?:\r?\n\r?\n|\r?\n|\\n\\n|\\r\\n|\\n|[ \t])"
        r"(?:[A-Za-z0-9+/]{16}|Proc-Type:|Version:|Comment:)"
    ),
    anchors=("private key",),
)

RULES: tuple[Rule, ...] = (
    Rule("aws-access-key-id", "AWS access key id",
         _rx(r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])"),
         anchors=("akia", "asia")),
    Rule("aws-secret-access-key", "AWS secret access key",
         _rx(r"(?i:secret_?access_?key)" + _SEP
             + r"""["']?(?P<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"""),
         anchors=("secret",)),
    Rule("github-token", "GitHub token",
         _rx(r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,}+|github_pat_[A-Za-z0-9_]{22,}+)"),
         anchors=("gh", "github_pat_")),
    Rule("gitlab-token", "GitLab personal access token",
         _rx(r"(?<![A-Za-z0-9_-])glpat-[A-Za-z0-9_.-]{20,}+"),
         anchors=("glpat-",)),
    Rule("slack-token", "Slack token",
         _rx(r"(?<![A-Za-z0-9])xox[abposr]-[A-Za-z0-9-]{10,}+"),
         anchors=("xox",)),
    Rule("stripe-key", "Stripe live key",
         _rx(r"(?<![A-Za-z0-9_])[sr]k_live_[0-9A-Za-z]{20,}+"),
         anchors=("sk_live_", "rk_live_")),
    Rule("google-api-key", "Google API key",
         _rx(r"(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])"),
         anchors=("aiza",)),
    PRIVATE_KEY,
    Rule("jwt", "JSON Web Token",
         _rx(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}+\.eyJ[A-Za-z0-9_-]{5,}+"
             r"\.[A-Za-z0-9_-]{10,}+"),
         severity=Severity.MEDIUM, anchors=("eyj",)),
    Rule("url-password", "URL with an embedded password",
         _rx(r"://[^\s:/@\"'<>]{1,256}+:(?P<secret>[^\s/@\"'<>]{3,256}+)@"),
         anchors=("://",), accept=_real),
    Rule("npm-token", "npm token",
         _rx(r"_authToken[ \t]*+=[ \t]*+[\"']?(?P<secret>[^\s\"']{8,}+)"
             r"|(?<![A-Za-z0-9_])npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])"),
         anchors=("_authtoken", "npm_"), accept=_real),
    Rule("pypi-token", "PyPI upload token",
         _rx(r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}+"),
         anchors=("pypi-ageichlwas5vcmc",)),
    Rule("docker-auth", "Docker registry credentials (config.json auth)",
         _rx(r"\"auth\"[ \t]*+:[ \t]*+\"(?P<secret>[A-Za-z0-9+/]{8,}+={0,2})\""),
         anchors=('"auth"',), accept=_basic_auth),
    Rule("generic-password", "Password or secret assigned in a configuration file",
         _rx(r"(?i:passw(?:or)?d|pwd|secret(?:_key|key)?|api_?key"
             # *token: the anchor is "token", what may precede it is looked behind
             r"|(?:(?<=access_)|(?<=access)|(?<=auth_)|(?<=auth)|(?<=api_)|(?<=api))token)"
             + _SEP
             + r"(?P<q>[\"'])(?P<secret>[^\"'\s]{6,200})(?P=q)"),
         severity=Severity.MEDIUM,
         anchors=("passw", "pwd", "secret", "api_key", "apikey", "token"), accept=_real),
)


# Characters outside ASCII whose lower case holds an ASCII character (U+0130 -> "i" and
# a combining dot, U+212A KELVIN SIGN -> "k"): the only ways a non-ASCII text can make an
# anchor appear in `str.lower()` (tests/test_secrets.py enumerates the code points).
FOLDS_TO_ASCII = ("\u0130", "\u212a")


class _AnchorFilter:
    """One Hyperscan database of every rule's anchors (caseless literals) and of the
    characters in FOLDS_TO_ASCII; compiled on first use."""

    def __init__(self) -> None:
        import hyperscan  # a C extension: a missing wheel is handled by `rules_for`

        anchors = sorted({a for rule in RULES for a in rule.anchors})
        literals = [a.encode() for a in anchors] + [c.encode() for c in FOLDS_TO_ASCII]
        # literal id -> the rules it may start (a folding character: all of them)
        self.rules = [tuple(r for r in RULES if a in r.anchors) for a in anchors]
        self.rules += [RULES] * len(FOLDS_TO_ASCII)
        self.db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        self.db.compile(expressions=[re.escape(x) for x in literals],
                        ids=list(range(len(literals))),
                        flags=hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_SINGLEMATCH)
        self.scratch = hyperscan.Scratch(self.db)
        # a scan needs a scratch space of its own: image layers are read by several
        # threads at once (one shared scratch fails with "error code -10")
        self.local = threading.local()

    def rules_for(self, data: bytes) -> tuple[Rule, ...]:
        scratch = getattr(self.local, "scratch", None)
        if scratch is None:
            scratch = self.local.scratch = self.scratch.clone()
        hits: list[int] = []
        self.db.scan(data, match_event_handler=lambda i, *_: hits.append(i),
                     scratch=scratch)
        if not hits:
            return ()
        if len(hits) == 1:
            return self.rules[hits[0]]
        found = {r.id for i in hits for r in self.rules[i]}
        return tuple(r for r in RULES if r.id in found)


_filter: _AnchorFilter | None = None
_no_filter = False


def rules_for(data: bytes) -> tuple[Rule, ...]:
    """The content rules that may match `data` decoded as UTF-8 (invalid bytes replaced):
    those with an anchor in it, case-insensitively; all of them if a character of
    FOLDS_TO_ASCII is in it (an ASCII byte always decodes to itself and other characters
    lower-case to non-ASCII ones, so the anchors of the lower-cased text are exactly
    these); all of them too when it cannot tell (no `hyperscan` module)."""
    global _filter, _no_filter
    if _filter is None:
        if _no_filter:
            return RULES
        try:
            _filter = _AnchorFilter()
        except Exception:  # ImportError, or a CPU the library does not support
            _no_filter = True
            return RULES
    return _filter.rules_for(data)


def could_match(data: bytes) -> bool:
    """False only when no content rule can match `data` (see `rules_for`)."""
    return bool(rules_for(data))


class Match(NamedTuple):
    rule: Rule | FileRule
    line: int | None  # 1-based; None when the finding is the file itself
    redacted: str


def _find(text: str, rules: Iterable[Rule], limit: int = MAX_MATCHES
          ) -> list[tuple[int, int, Rule, str]]:
    scan = _Text(text)
    found = [(start, end, rule, secret)
             for rule in rules for start, end, secret in rule.secrets(scan, limit)]
    found.sort(key=lambda f: f[0])
    return found


def _matches(text: str, found: list[tuple[int, int, Rule, str]]) -> list[Match]:
    """Matches with 1-based line numbers; `found` sorted by position."""
    out: list[Match] = []
    line, pos = 1, 0
    for start, _, rule, secret in found[:MAX_MATCHES]:
        line += text.count("\n", pos, start)
        pos = start
        out.append(Match(rule, line, redact(secret)))
    return out


def scan_text(text: str, rules: Iterable[Rule] = RULES) -> list[Match]:
    """Every content-rule match in `text`, in order of position (at most MAX_MATCHES)."""
    return _matches(text, _find(text, rules))


# --- environment variables (DW233, DW303) -----------------------------------------------

SECRET_NAME = _rx(
    r"(PASSW(OR)?D|PWD|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL|"
    r"AUTH(?!ORS?(?![A-Z])|ORIT)|SESSION_?KEY|CLIENT_?SECRET|CONN(ECTION)?_?STR(ING)?|DSN)",
    re.IGNORECASE,
)
NOT_SECRET_NAME = _rx(
    r"(_FILE|_PATH|_DIR|_URL_TEMPLATE|_LENGTH|_TYPE|_MODE|_METHOD|_URL|_URI|_ENDPOINT|"
    r"_HOST|_PORT|_USER|_USERNAME|_ENABLED|_EXPIRY|_TTL|_TIMEOUT|_HEADER|_ID)$",
    re.IGNORECASE,
)
SHELL_DIRS = frozenset({"PWD", "OLDPWD"})
_AWS_SECRET_VALUE = _rx(r"[A-Za-z0-9/+]{40}")

SECRET_NAME_RULE = Rule(
    "secret-name", "Secret-looking variable name with a value", SECRET_NAME,
    severity=Severity.HIGH,
)
AWS_SECRET_RULE = next(r for r in RULES if r.id == "aws-secret-access-key")


class EnvHit(NamedTuple):
    name: str
    rule: Rule
    redacted: str


def is_secret_name(name: str) -> bool:
    """A variable name that says it holds a secret (`DB_PASSWORD`), not a reference to
    one (`*_FILE`, `*_PATH`, `*_URL`...) nor the shell's `PWD`."""
    return bool(SECRET_NAME.search(name) and not NOT_SECRET_NAME.search(name)
                and name.upper() not in SHELL_DIRS)


def _is_path(value: str) -> bool:
    v = value.strip()
    return v.startswith("/") and len(v.split()) == 1


def _env_rule(name: str, value: str) -> Rule | None:
    if len(value) < 4:  # no rule matches fewer than 9 characters; names need 4
        return None
    scan = _Text(value)
    for rule in RULES:
        if rule.secrets(scan):
            return rule
    if "SECRETACCESSKEY" in name.upper().replace("_", "") and _AWS_SECRET_VALUE.fullmatch(
        value.strip()
    ):
        return AWS_SECRET_RULE
    if is_secret_name(name) and not is_placeholder(value) and not _is_path(value):
        return SECRET_NAME_RULE
    return None


def scan_env(env: Iterable[tuple[str, str]]) -> list[EnvHit]:
    """(name, rule, redacted value) for each secret-looking variable: a value that a
    content rule recognises (any name), or a secret-looking name (`DB_PASSWORD`) with a
    real value: not a placeholder, not a path, not `*_FILE`/`*_PATH`/`*_MODE`..."""
    out: list[EnvHit] = []
    for name, value in env:
        rule = _env_rule(name, value)
        if rule is not None:
            out.append(EnvHit(name, rule, redact(value)))
    return out


def scan_labels(labels: Mapping[str, str]) -> list[EnvHit]:
    """Labels as name/value pairs, with the environment's semantics."""
    return scan_env(sorted(labels.items()))


_ASSIGNMENT = _rx(
    r"(?<![^\s|;&(])(?P<name>[A-Za-z_][A-Za-z0-9_]{0,127}+)="
    r"(?P<value>\"[^\"\n]{0,4096}+\"|'[^'\n]{0,4096}+'|[^\s\"';&|)]{1,4096}+)"
)


def _history(created_by: str, limit: int) -> list[tuple[int, int, Rule, str]]:
    found = _find(created_by, RULES, limit)
    spans = [(start, end) for start, end, _, _ in found]
    for n, m in enumerate(_ASSIGNMENT.finditer(created_by)):
        if n >= MAX_ASSIGNMENTS or len(found) >= 4 * limit:
            break
        if not SECRET_NAME.search(m.group("name")):
            continue  # values any name may hold were matched by the content rules
        vs, ve = m.span("value")
        if any(start < ve and vs < end for start, end in spans):
            continue
        value = m.group("value")
        if value[:1] in ("'", '"'):
            value, vs, ve = value[1:-1], vs + 1, ve - 1
        rule = _env_rule(m.group("name"), value)
        if rule is not None:
            found.append((vs, ve, rule, value))
    found.sort(key=lambda f: f[0])
    return found


def scan_history(created_by: str) -> list[Match]:
    """A build step (`docker history`'s CREATED BY): content rules, plus `NAME=value`
    assignments (build args shown as `|2 NPM_TOKEN=... /bin/sh -c`, `ENV`, `ARG`,
    `export`) judged like environment variables. One match per secret."""
    return _matches(created_by, _history(created_by, MAX_MATCHES))


def redact_text(text: str) -> str:
    """`text` with every secret `scan_history` finds in it (any number of them)
    replaced by its redacted form: for showing a build step or a command line. Redact
    first and shorten after: a secret cut in two may no longer be recognised."""
    out: list[str] = []
    pos = 0
    for start, end, _, secret in _history(text, 1 << 30):
        if start < pos:
            continue  # overlaps a secret already replaced
        out += (text[pos:start], redact(secret))
        pos = end
    out.append(text[pos:])
    return "".join(out)


# --- file rules (DW304) -----------------------------------------------------------------

Confirm = Callable[[str], list[tuple[int, str]]]  # text -> [(line, redacted)]


class FileRule(NamedTuple):
    """A rule on a file's name. `names` are exact basenames, `suffixes` lower-case
    basename endings, `paths` endings of the absolute path (`/.aws/credentials`).
    `confirm` finds the secret in the content; with `required` the file is a finding
    only if it does, else the name alone is one (`*.p12`)."""

    id: str
    title: str
    names: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    confirm: Confirm | None = None
    required: bool = True
    severity: Severity = Severity.HIGH
    unless: tuple[str, ...] = ()  # lower-case basename substrings that exempt a file


def _confirm(*rules: Rule | str) -> Confirm:
    """Confirm a file rule by content rules, or by patterns (str) that only ever run
    over files whose name passed (placeholder values rejected)."""
    compiled = tuple(r if isinstance(r, Rule) else Rule("confirm", "confirm", _rx(r),
                                                         accept=_not_template) for r in rules)

    def confirm(text: str) -> list[tuple[int, str]]:
        return [(m.line or 1, m.redacted) for m in scan_text(text, compiled)]

    return confirm


PUTTY_KEY = Rule("putty-key", "PuTTY private key", _rx(r"PuTTY-User-Key-File-[0-9]"),
                 anchors=("putty-user-key-file-",))

_DOTENV_LINE = _rx(
    r"^[ \t]*+(?:export[ \t])?[ \t]*+(?P<name>[A-Za-z_][A-Za-z0-9_.]{0,127}+)[ \t]*+=[ \t]*+"
    r"(?P<value>[^\r\n]{0,4096}+)",
    re.MULTILINE,
)


def _dotenv(text: str) -> list[tuple[int, str]]:
    """`NAME=value` lines judged like environment variables: a value a content rule
    recognises (any name), or a secret-looking name with a real value."""
    valued = {m.line for m in scan_text(text)}  # one pass, not one per line
    out: list[tuple[int, str]] = []
    line, pos = 1, 0
    for n, m in enumerate(_DOTENV_LINE.finditer(text)):
        if n >= MAX_ASSIGNMENTS:
            break
        line += text.count("\n", pos, m.start())
        pos = m.start()
        if line not in valued and not SECRET_NAME.search(m.group("name")):
            continue
        value = m.group("value").strip()
        if value[:1] in ("'", '"') and value.endswith(value[0]) and len(value) >= 2:
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        if _env_rule(m.group("name"), value) is not None:
            out.append((line, redact(value)))
            if len(out) >= MAX_MATCHES:
                break
    return out


FILE_RULES: tuple[FileRule, ...] = (
    FileRule("ssh-private-key", "SSH private key",
             names=("id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "id_ecdsa_sk",
                    "id_ed25519_sk"),
             confirm=_confirm(PRIVATE_KEY), required=False),
    FileRule("ssh-host-key", "SSH host private key (shared by every container of the image)",
             names=("ssh_host_rsa_key", "ssh_host_dsa_key", "ssh_host_ecdsa_key",
                    "ssh_host_ed25519_key"),
             confirm=_confirm(PRIVATE_KEY), severity=Severity.MEDIUM),
    FileRule("private-key-file", "Private key file",
             suffixes=(".pem", ".key", ".ppk"),
             confirm=_confirm(PRIVATE_KEY, PUTTY_KEY)),
    FileRule("pkcs12", "PKCS#12 key store (flagged by name)",
             suffixes=(".p12", ".pfx"), required=False, severity=Severity.MEDIUM),
    FileRule("aws-credentials", "AWS credentials file",
             paths=("/.aws/credentials",),
             confirm=_confirm(r"(?im)^[ \t]*+(?:aws_secret_access_key|aws_session_token)"
                              r"[ \t]*+=[ \t]*+(?P<secret>[^\s]{8,}+)")),
    FileRule("docker-config", "Docker client config with registry credentials",
             paths=("/.docker/config.json",),
             confirm=_confirm(r"\"(?:auth|identitytoken|password)\"[ \t\r\n]{0,16}+:"
                              r"[ \t\r\n]{0,16}+\"(?P<secret>[^\"\s]{4,}+)\"")),
    FileRule("npmrc", "npm credentials (.npmrc)",
             names=(".npmrc", "npmrc"),
             confirm=_confirm(r"(?:_authToken|_auth|_password)[ \t]*+=[ \t]*+[\"']?"
                              r"(?P<secret>[^\s\"']{4,}+)")),
    FileRule("pypirc", "PyPI credentials (.pypirc)",
             names=(".pypirc",),
             confirm=_confirm(r"(?im)^[ \t]*+password[ \t]*+[:=][ \t]*+(?P<secret>\S{3,}+)")),
    FileRule("git-credentials", "Git credential store",
             names=(".git-credentials",), paths=("/git/credentials",),
             confirm=_confirm(r"://[^\s:/@]{1,256}+:(?P<secret>[^\s/@]{1,256}+)@")),
    FileRule("netrc", "netrc with a password",
             names=(".netrc", "_netrc"),
             confirm=_confirm(r"(?<![A-Za-z0-9_])password[ \t\r\n]++(?P<secret>\S{1,256}+)")),
    FileRule("dotenv", "dotenv file with secret-looking assignments",
             names=(".env",), suffixes=(".env",),
             confirm=_dotenv, unless=("example", "sample", "template", ".dist", "defaults")),
    FileRule("kubeconfig", "Kubernetes client config with credentials",
             names=("kubeconfig",), suffixes=(".kubeconfig",),
             paths=("/.kube/config", "/etc/kubernetes/admin.conf",
                    "/etc/kubernetes/kubelet.conf", "/etc/kubernetes/controller-manager.conf",
                    "/etc/kubernetes/scheduler.conf"),
             confirm=_confirm(r"(?m)^[ \t]*+-?[ \t]*+(?:client-key-data|token|password)"
                              r"[ \t]*+:[ \t]*+[\"']?(?P<secret>[^\s\"']{8,}+)"),
             severity=Severity.CRITICAL),
)

_BY_NAME: dict[str, tuple[FileRule, ...]] = {}
for _r in FILE_RULES:
    for _n in _r.names:
        _BY_NAME[_n] = (*_BY_NAME.get(_n, ()), _r)
_SUFFIXES = tuple(s for r in FILE_RULES for s in r.suffixes)
_PATHS = tuple(p for r in FILE_RULES for p in r.paths)
_DOTENV_PREFIX = ".env."  # .env.local, .env.production
DOTENV_RULE = next(r for r in FILE_RULES if r.id == "dotenv")


# Every name a file rule can match, as a path tail: the quick test of `file_rules`.
_EXACT_TAILS = tuple("/" + n for n in _BY_NAME) + _PATHS
_SUFFIX_TAIL = max(len(s) for s in _SUFFIXES)


def file_rules(path: str) -> tuple[FileRule, ...]:
    """The file rules whose name test `path` passes. Cheap (it runs on most files of an
    image): `endswith` over precomputed tuples first, no regex."""
    if not (path.endswith(_EXACT_TAILS) or path[-_SUFFIX_TAIL:].lower().endswith(_SUFFIXES)
            or "/.e" in path or "/.E" in path):
        return ()
    base = path[path.rfind("/") + 1:]
    lower = base.lower()
    found = _BY_NAME.get(base, ())
    if lower.endswith(_SUFFIXES) or path.endswith(_PATHS):
        found = tuple(r for r in FILE_RULES if r in found or lower.endswith(r.suffixes)
                      or path.endswith(r.paths))
    if lower.startswith(_DOTENV_PREFIX) and DOTENV_RULE not in found:
        found = (*found, DOTENV_RULE)
    if not found:
        return ()
    return tuple(r for r in found if not any(u in lower for u in r.unless))


def scan_file(path: str, text: str | None, rules: Iterable[Rule] = RULES) -> list[Match]:
    """The file rules matching `path` (confirmed by `text` where they need it) and the
    content `rules` over `text` (None: binary or unreadable, names only). A content match
    on a line a file rule already reported is dropped: one finding per secret."""
    out: list[Match] = []
    for rule in file_rules(path):
        hits = rule.confirm(text) if (rule.confirm is not None and text is not None) else []
        if hits:
            out.extend(Match(rule, line, shown) for line, shown in hits)
        elif not rule.required:
            out.append(Match(rule, None, ""))
    if text is not None:
        covered = {m.line for m in out}
        out.extend(m for m in scan_text(text, rules) if m.line not in covered)
    return out[:MAX_MATCHES]


ALL_RULES: Mapping[str, Rule | FileRule] = {
    **{r.id: r for r in (*RULES, SECRET_NAME_RULE)}, **{r.id: r for r in FILE_RULES}
}


# --- command lines (DW225, DW231 and any evidence that quotes one) -----------------------
#
# What `redact_command` treats as a secret value, flag by flag (decided per flag semantics):
#
# - Long flags (`--NAME VALUE`, `--NAME=VALUE`, and Java/openssl-style `-NAME VALUE`) whose
#   name, split on `-`/`_`, holds a word of _SECRET_WORDS (password, passwd, pass, pwd,
#   passphrase, token, secret, apikey, credential(s), storepass, keypass...) or a pair of
#   _SECRET_PAIRS (api key, access key, secret key, auth key, private key). Not when the
#   name says the value is something else (`--password-file`, `--token-ttl`,
#   `--secret-name`: last word in _NOT_SECRET_TAILS) or the flag takes no value
#   (`--password-stdin`, `--no-password`, `--ask-pass`: first word in _NOT_SECRET_HEADS).
#   The separate form only takes the next word when it does not start with `-`.
# - Short flags only for the programs where they are a password (_SHORT_SECRET_FLAGS):
#   `mysql -pX` (mysql's `-p X` prompts and X is a database name: only the attached form),
#   `sshpass -p X`, `redis-cli -a X`, `mongosh -p X`, `docker login -p X` (never docker's
#   `run -p 8080:80`), `zip -P X`, `7z -pX`, `sqlcmd -P X`, `ldapsearch -w X`; `curl -u
#   user:pass` / `--user` / `--proxy-user` keep the user and redact after the first colon
#   (docker's `-u 1000:1000` is left alone).
# - openssl-style `pass:X` values, `Authorization: Bearer X` headers, `user:pass@` in any
#   URL (the password, whatever it looks like), then every content rule and `NAME=value`
#   assignment of `redact_text` (tokens such as `ghp_...` wherever they are).
# - First of all, the fixed credentials of `fixed_credentials` (DW517's table: chpasswd and
#   passwd input, `useradd -p`, `mysqladmin password`, SQL literals, `*_PASSWORD=` values),
#   wherever they occur in the text as a whole word.
# Kept as they are: `$VAR`, `${VAR}`, `<...>` and `{{...}}` references (the secret is not
# in the command), absolute paths (`--tlskey /etc/docker/key.pem`) and docker's
# `--secret id=x,src=/path` references.

_SECRET_WORDS = frozenset({
    "password", "passwd", "pass", "pwd", "passphrase", "passcode", "passwort", "token",
    "secret", "apikey", "credential", "credentials", "storepass", "keypass", "srcstorepass",
    "deststorepass", "srckeypass", "destkeypass", "privatekey", "secretkey", "accesskey",
    "authkey", "authtoken", "accesstoken", "clientsecret",
})
_SECRET_PAIRS = frozenset({("api", "key"), ("access", "key"), ("secret", "key"),
                           ("auth", "key"), ("private", "key"), ("master", "key"),
                           ("encryption", "key"), ("signing", "key")})
_NOT_SECRET_TAILS = frozenset({
    "file", "path", "stdin", "dir", "directory", "env", "type", "name", "id", "ttl",
    "timeout", "length", "url", "uri", "endpoint", "mode", "method", "cmd", "command",
    "helper", "header", "policy", "prompt", "required", "expiry", "expiration", "lifetime",
    "store", "source", "src", "var", "variable", "user", "username", "hash", "algorithm",
    "format", "count", "limit", "min", "max", "age", "interval", "audience", "scope",
    "scopes", "provider", "server", "host", "port", "backend", "plugin", "driver",
})
_NOT_SECRET_HEADS = frozenset({"no", "ask", "skip", "prompt", "use", "without", "read",
                               "require", "disable", "enable", "allow", "show", "print",
                               "insecure", "with"})
# program basename -> {short flag: "attached" (only -pVALUE), "both", or "userpass"}
_MYSQL = {"p": "attached"}
_SHORT_SECRET_FLAGS: dict[str, dict[str, str]] = {
    **{p: _MYSQL for p in ("mysql", "mysqldump", "mysqladmin", "mysqlimport", "mysqlshow",
                           "mysqlcheck", "mysqlpump", "mysqlslap", "mysqlbinlog", "mariadb",
                           "mariadb-dump", "mariadb-admin", "mariadb-import", "mariadb-check",
                           "mariadb-show", "mariadb-slap", "mariadb-binlog")},
    "sshpass": {"p": "both"},
    "redis-cli": {"a": "both"},
    "keydb-cli": {"a": "both"},
    **{p: {"p": "both"} for p in ("mongo", "mongosh", "mongodump", "mongorestore",
                                  "mongoexport", "mongoimport", "mongostat", "mongotop")},
    "zip": {"P": "both"}, "unzip": {"P": "both"},
    "7z": {"p": "attached"}, "7za": {"p": "attached"}, "7zr": {"p": "attached"},
    "sqlcmd": {"P": "both"}, "bcp": {"P": "both"},
    **{p: {"w": "both"} for p in ("ldapsearch", "ldapadd", "ldapmodify", "ldapdelete",
                                  "ldapwhoami", "ldappasswd", "ldapcompare", "ldapmodrdn")},
    "curl": {"u": "userpass", "U": "userpass"},
}
_LOGIN_PROGRAMS = frozenset({"docker", "podman", "nerdctl", "buildah", "skopeo", "helm",
                             "oras", "crane"})
_LOGIN_FLAGS = {"p": "both"}
_USERPASS_LONG = frozenset({"user", "proxy-user"})  # curl's, in a curl context only
_SHELL_SEPARATORS = frozenset({";", "&&", "||", "|", "&", "(", ")", "{", "}", "then",
                               "do", "else", "exec"})
_FLAG = _rx(r"(?P<dashes>--?)(?P<name>[A-Za-z][A-Za-z0-9_.-]{0,63}+)(?P<eq>=?)(?P<value>.*)",
            re.DOTALL)
_AUTH_HEADER = _rx(r"(?i)authorization[ \t]{0,8}+:[ \t]{0,8}+(?:bearer|basic|token|digest|"
                   r"negotiate|)[ \t]{0,8}+(?P<secret>[^\s\"']{4,4096}+)")
_URL_USERINFO = _rx(r"://[^\s:/@\"'<>]{0,256}+:(?P<secret>[^\s/@\"'<>]{1,256}+)@")
_DOCKER_SECRET_KEYS = frozenset({"id", "src", "source", "env", "type", "target", "required",
                                 "uid", "gid", "mode"})


def _secret_flag(name: str) -> bool:
    words = [w for w in re.split(r"[-_.]", name.lower()) if w]
    if not words or words[-1] in _NOT_SECRET_TAILS or words[0] in _NOT_SECRET_HEADS:
        return False
    if "bypass" in words or "passthrough" in words:
        return False
    return (any(w in _SECRET_WORDS for w in words)
            or any(pair in _SECRET_PAIRS for pair in itertools.pairwise(words)))


def _kept(value: str) -> bool:
    """A flag value that is not itself a secret: empty, a reference, a path."""
    v = value.strip("\"'")
    return (not v or v[0] in "$<" or v.startswith(("{{", "%(")) or _is_path(v)
            or _docker_secret_ref(v))


def _docker_secret_ref(value: str) -> bool:
    """docker's `--secret id=npm,src=/run/npm` (a reference to a secret, not one)."""
    parts = value.split(",")
    return all(p.partition("=")[0] in _DOCKER_SECRET_KEYS and "=" in p for p in parts)


def _hide(value: str, kind: str = "both") -> str:
    """`value` (maybe quoted) with its secret part redacted; `kind` userpass keeps what
    precedes the first colon (`user:`)."""
    core = value.lstrip("\"'")
    lead = value[:len(value) - len(core)]
    stripped = core.rstrip("\"'")
    end = core[len(stripped):]
    core = stripped
    if kind == "userpass":
        user, sep, password = core.partition(":")
        if not sep or _kept(password):
            return value
        return f"{lead}{user}:{redact(password)}{end}"
    if _kept(core):
        return value
    return f"{lead}{redact(core)}{end}"


def _basename(word: str) -> str:
    return word.strip("\"'").rsplit("/", 1)[-1]


class _CommandState:
    """Walks the words of one command (or one shell text): which program's short flags
    are active, and whether the next word is a flag's secret value."""

    def __init__(self) -> None:
        self.short: dict[str, str] = {}
        self.program = ""
        self.pending = ""  # "", "both" or "userpass": the next word is a secret value

    def word(self, word: str) -> str:
        core = word.strip("\"'")
        if self.pending:
            kind, self.pending = self.pending, ""
            if not (core.startswith("-") and len(core) > 1):
                return _hide(word, kind)
        if core in _SHELL_SEPARATORS or core.endswith(";"):
            self.short, self.program = {}, ""
            return word
        if not core.startswith("-"):
            base = _basename(word)
            if base in _SHORT_SECRET_FLAGS:
                self.short, self.program = _SHORT_SECRET_FLAGS[base], base
            elif base in _LOGIN_PROGRAMS and not self.program:
                self.program = base
            elif core == "login" and self.program in _LOGIN_PROGRAMS:
                self.short = _LOGIN_FLAGS
            if core.lower().startswith("pass:") and len(core) > 5:
                return word.replace(core, "pass:" + _hide(core[5:]), 1)
            return word
        return self._flag(word, core)

    def _flag(self, word: str, core: str) -> str:
        if len(core) > 1 and core[1] in self.short:  # a program's own short flag: -pX
            kind = self.short[core[1]]
            if len(core) > 2:
                lead = word[:word.index(core) + 2]
                return lead + _hide(word[len(lead):], kind)
            if kind != "attached":
                self.pending = kind
            return word
        m = _FLAG.fullmatch(core)
        if m is None:
            return word
        dashes, name, value = m.group("dashes"), m.group("name"), m.group("value")
        if not m.group("eq"):
            if value:
                return word  # not a flag's shape (`--x!y`)
            value = None
        if len(name) == 1 and dashes == "-":
            return word
        if self.program == "curl" and name.lower() in _USERPASS_LONG:
            kind = "userpass"
        elif _secret_flag(name):
            kind = "both"
        else:
            return word
        if value is None:
            self.pending = kind
            return word
        lead = word[:word.index(core) + len(core) - len(value)]
        return lead + _hide(word[len(lead):], kind)


def _shell_words(text: str) -> list[tuple[int, int]]:
    """(start, end) of each shell word of `text`: runs of characters other than
    whitespace, where a quoted string (an unclosed quote runs to the end) holds spaces.
    By hand: one linear pass, no regex to backtrack."""
    spans: list[tuple[int, int]] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start = i
        while i < n and not text[i].isspace():
            if text[i] in "\"'":
                i = _quote_end(text, i)
            else:
                i += 1
        spans.append((start, i))
    return spans


def _quote_end(text: str, i: int) -> int:
    """The index after the quoted string opening at `i` (the end of `text` if unclosed);
    a backslash escapes the next character inside double quotes."""
    quote, i, n = text[i], i + 1, len(text)
    while i < n and text[i] != quote:
        i += 2 if quote == '"' and text[i] == "\\" else 1
    return min(i + 1, n)


def _redact_words(text: str, depth: int = 0) -> str:
    """One shell text: flag values by `_CommandState`, then what `redact_text` finds. A
    quoted word holding spaces is a flag's value when one is due, else a shell text of
    its own (`sh -c "mysql -pX"`), redacted the same way (nested at most 4 deep)."""
    state = _CommandState()
    out: list[str] = []
    pos = 0
    for start, end in _shell_words(text):
        out.append(text[pos:start])
        pos = end
        word = text[start:end]
        if (depth < 4 and not state.pending and not word.startswith("-")
                and any(c.isspace() for c in word)):
            out.append(_requote(word, depth))
        else:
            out.append(state.word(word))
    out.append(text[pos:])
    return "".join(out) if depth else _redact_patterns("".join(out))


def _requote(word: str, depth: int) -> str:
    """A word with quoted parts holding spaces: each quoted part redacted as a text."""
    out: list[str] = []
    i = 0
    while i < len(word):
        if word[i] not in "\"'":
            out.append(word[i])
            i += 1
            continue
        end = _quote_end(word, i)
        closed = end - i > 1 and word[end - 1] == word[i]
        inner = word[i + 1:end - 1] if closed else word[i + 1:end]
        out += (word[i], _redact_words(inner, depth + 1), word[i] if closed else "")
        i = end
    return "".join(out)


def _redact_patterns(text: str) -> str:
    for rx in (_AUTH_HEADER, _URL_USERINFO):
        if rx is _URL_USERINFO and "://" not in text:
            continue
        if rx is _AUTH_HEADER and "uthorization" not in text.lower():
            continue
        text = rx.compiled().sub(
            lambda m: m.group(0)[:m.start("secret") - m.start()]
            + (m.group("secret") if _kept(m.group("secret")) else redact(m.group("secret")))
            + m.group(0)[m.end("secret") - m.start():], text)
    return redact_text(text)


# --- fixed credentials (DW517, and every command `redact_command` shows) ------------------
#
# Passwords a shell command writes out: `echo user:pw | chpasswd`, `chpasswd <<< user:pw`,
# `echo pw | passwd`, `useradd/usermod -p HASH`, `mysqladmin password PW`, SQL
# `IDENTIFIED BY 'pw'` / `PASSWORD('pw')` / `WITH [ENCRYPTED] PASSWORD 'pw'`, and inline
# `X_PASSWORD=pw` assignments. One table: DW517 reports what `fixed_credentials` finds and
# `redact_command`/`redact_argv` hide the same literals wherever a command is shown (a
# Dockerfile's RUN in any rule's evidence, an image's history, a container's command).
# Literal only: `$VAR`, `${VAR}`, `$(...)` and backquotes are references, and an empty
# value sets nothing; a crypt hash (`$6$salt$...`) is a literal although it starts with `$`.
#
# Cost: one lower-cased copy of the text and a substring test (`_CREDENTIAL_WORDS`) decide
# whether any pattern runs; each pattern then runs only when its own keyword is there.
# Every repeat is bounded (the patterns are in PATTERNS, checked for nesting).

class Credential(NamedTuple):
    """A password written out in a command: `what` describes it with the value starred
    (`chpasswd root:******`, `IDENTIFIED BY '******'`: shown as evidence), `start`/`end`
    are the literal's offsets in the text, `literal` the password itself (never shown)."""

    what: str
    start: int
    end: int
    literal: str


_CREDENTIAL_WORDS = ("passw", "identified", "_pass", "_pwd", "useradd", "usermod", "adduser")
_ECHO = r"(?:echo|printf)(?:[ \t]-[neE]|[ \t]-[neE][neE]|[ \t]-[neE][neE][neE]){0,2}[ \t]{1,8}"
# `echo user:pw | chpasswd`, `echo pw | passwd`: found from the pipe into (ch)passwd, then
# the echo looked for between it and the previous pipe (at most _ECHO_REACH back), not by
# a regex tried at every `echo` of the text.
_INTO_PASSWD = _rx(r"\|[ \t]{0,8}(?:sudo[ \t])?[ \t]{0,8}(ch)?passwd\b")
_ECHO_USER_PW = _rx(
    _ECHO + r"""\\?["']?([\w.@-]{1,64}):([^\s"'|\\]{1,256})\\?["']?[ \t]{0,8}\Z""")
_ECHO_PW = _rx(_ECHO + r"""\\?["']?([^"'|$\s\\][^"'|\\]{0,255}?)\\?["']?[ \t]{0,8}\Z""")
_ECHO_REACH = 400
_HERE_CHPASSWD = _rx(
    r"""chpasswd[ \t]{0,8}<<<[ \t]{0,8}\\?["']?([\w.@-]{1,64}):([^\s"'\\;&|]{1,256})""")
_SQL = _rx(
    r"""(?:IDENTIFIED[ \t]{1,8}BY|IDENTIFIED[ \t]{1,8}WITH[ \t]{1,8}\S{1,64}[ \t]{1,8}BY"""
    r"""|(?<![\w$])PASSWORD[ \t]{0,8}\(|WITH[ \t]{1,8}PASSWORD"""
    r"""|WITH[ \t]{1,8}ENCRYPTED[ \t]{1,8}PASSWORD)[ \t]{0,8}\\?(['"])(.{1,256}?)\\?\1""",
    re.IGNORECASE)
_ASSIGN_PASSWORD = _rx(
    r"""(?<![\w$])([A-Za-z_][A-Za-z0-9_]{0,127}(?:PASSWORD|PASSWD|_PASS|_PWD))="""
    r"""("[^"]{0,1024}"|'[^']{0,1024}'|[^\s;&|'"]{1,1024})""", re.IGNORECASE)
# A value after a flag or a word; the command it belongs to (`useradd`, `mysqladmin`) is
# looked for before it in Python (`_command_before`), not by a regex scanning forward
# from every `useradd` to every `-p`.
_VALUE = r"""('[^'\n]{0,256}'|"[^"\n]{0,256}"|[^\s;&|'"]{1,256})"""
_PASSWORD_FLAG = _rx(r"""(?<![\w-])(-p|--password)(?:[ \t]{1,8}|=)""" + _VALUE)
_PASSWORD_WORD = _rx(r"""(?<![\w-])password[ \t]{1,8}""" + _VALUE)
_COMMAND_REACH = 256  # how far back from a flag its command's name is looked for
_ACCOUNT_TOOLS = ("useradd", "usermod", "adduser")


def _command_before(text: str, pos: int, names: tuple[str, ...]) -> str | None:
    """The last of `names` run as a command word in the same shell command as `pos` (no
    `;`, `&`, `|` or unescaped newline in between), at most _COMMAND_REACH characters
    back; None if there is none."""
    start = max(0, pos - _COMMAND_REACH)
    for sep in (";", "&", "|"):
        start = max(start, text.rfind(sep, start, pos) + 1)
    nl = text.rfind("\n", start, pos)
    while nl > start and text[nl - 1] == "\\":  # a continuation line
        nl = text.rfind("\n", start, nl - 1)
    start = max(start, nl + 1)
    best, best_at = None, -1
    for name in names:
        i = text.rfind(name, start, pos)
        while i > best_at:
            after = i + len(name)
            if (after < pos and text[after] in " \t"
                    and not (i and (text[i - 1].isalnum() or text[i - 1] in "_-"))):
                best, best_at = name, i
                break
            i = text.rfind(name, start, i)
    return best


_CRYPT = _rx(r"\$[0-9a-z]{1,2}\$")


def _literal(value: str) -> bool:
    """A value written out, not taken from a variable or a command."""
    value = value.strip("\"'")
    if not value.strip():
        return False
    if _CRYPT.match(value):
        return True
    return not value.startswith(("$", "`")) and "$(" not in value and "${" not in value


def _unquoted(m: re.Match[str], group: int) -> tuple[int, int, str]:
    """The span and text of group `group` without its enclosing quotes."""
    start, end = m.span(group)
    value = m.group(group)
    if len(value) >= 2 and value[0] in "\"'" and value[-1] == value[0]:
        return start + 1, end - 1, value[1:-1]
    return start, end, value


def fixed_credentials(text: str) -> list[Credential]:
    """Every password `text` (a shell command, a RUN with its heredocs, a history step)
    writes out as a literal, in the order of the table above (see the comment)."""
    low = text.lower()
    if not any(w in low for w in _CREDENTIAL_WORDS):
        return []
    found: list[Credential] = []
    piped: list[Credential] = []  # `echo pw | passwd`: listed after every chpasswd
    if "passwd" in low and "|" in text:
        for pipe in _INTO_PASSWD.finditer(text):
            end = pipe.start()
            start = max(end - _ECHO_REACH, text.rfind("|", max(end - _ECHO_REACH, 0), end) + 1)
            if pipe.group(1):
                m = _ECHO_USER_PW.compiled().search(text, start, end)
                if m is not None and _literal(m.group(2)):
                    found.append(Credential(f"chpasswd {m.group(1)}:******", m.start(2),
                                            m.end(2), m.group(2)))
            else:
                m = _ECHO_PW.compiled().search(text, start, end)
                if m is not None and _literal(m.group(1)):
                    piped.append(Credential("passwd", m.start(1), m.end(1), m.group(1)))
    if "chpasswd" in low:
        found += [Credential(f"chpasswd {m.group(1)}:******", m.start(2), m.end(2), m.group(2))
                  for m in _HERE_CHPASSWD.finditer(text) if _literal(m.group(2))]
    found += piped
    if "identified" in low or "password" in low:
        for m in _SQL.finditer(text):
            if _literal(m.group(2)):
                head = " ".join(m.group(0)[:m.start(2) - m.start(0)].split())
                tail = m.group(1) + (")" if head.rstrip("'\"\\ ").endswith("(") else "")
                found.append(Credential(head + "******" + tail, m.start(2), m.end(2),
                                        m.group(2)))
    if "=" in text and ("passw" in low or "_pass" in low or "_pwd" in low):
        for m in _ASSIGN_PASSWORD.finditer(text):
            if _literal(m.group(2)) and not m.group(1).upper().endswith(("_FILE", "_PATH")):
                start, end, value = _unquoted(m, 2)
                found.append(Credential(f"{m.group(1)}=******", start, end, value))
    if "user" in low and "-p" in low:
        for m in _PASSWORD_FLAG.finditer(text):
            start, end, value = _unquoted(m, 2)
            tool = _command_before(text, m.start(), _ACCOUNT_TOOLS) if _literal(value) else None
            if tool is not None:
                found.append(Credential(f"{tool} {m.group(1)} ******", start, end,
                                        value))
    if "mysqladmin" in low:
        for m in _PASSWORD_WORD.finditer(text):
            start, end, value = _unquoted(m, 1)
            if _literal(value) and _command_before(text, m.start(), ("mysqladmin",)):
                found.append(Credential("mysqladmin password ******", start, end, value))
    return [c for c in found if c.literal.strip()]


def _credential_spans(text: str) -> list[tuple[int, int]]:
    """The spans of `text` to hide: each fixed credential where it was found, and its
    other occurrences as a whole word (`echo root:pw1 | chpasswd && echo pw1 > f`);
    sorted, overlapping spans merged."""
    found = fixed_credentials(text)
    if not found:
        return []
    spans = [(c.start, c.end) for c in found]
    for lit in {c.literal for c in found}:
        i = text.find(lit)
        while i != -1:
            j = i + len(lit)
            if not (i and text[i - 1].isalnum()) and not (j < len(text) and text[j].isalnum()):
                spans.append((i, j))
            i = text.find(lit, j)
    spans.sort()
    merged = [spans[0]]
    for start, end in spans[1:]:
        if start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _redact_credentials(text: str) -> str:
    spans = _credential_spans(text)
    if not spans:
        return text
    out: list[str] = []
    pos = 0
    for start, end in spans:
        out += (text[pos:start], redact(text[start:end]))
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _argv_credentials(argv: Sequence[str]) -> list[str]:
    """`argv` with the fixed credentials of the command it spells redacted in each word
    (found in the words joined by spaces, so `useradd -p HASH` across three words)."""
    joined = " ".join(argv)
    spans = _credential_spans(joined)
    if not spans:
        return list(argv)
    out: list[str] = []
    pos = first = 0  # spans[first:] are those not wholly before the current word
    for word in argv:
        wstart, wend = pos, pos + len(word)
        pos = wend + 1
        while first < len(spans) and spans[first][1] <= wstart:
            first += 1
        pieces: list[str] = []
        at = wstart
        for start, end in itertools.islice(spans, first, None):
            if start >= wend:
                break
            start = max(start, wstart)
            end = min(end, wend)
            pieces += (joined[at:start], redact(joined[start:end]))
            at = end
        pieces.append(joined[at:wend])
        out.append("".join(pieces))
    return out


def redact_command(text: str) -> str:
    """A command line as one text (a process list line, a shell command) with every
    secret in it redacted (see the comment above for what counts). Redact first and
    shorten after: a secret cut in two may no longer be recognised."""
    return _redact_words(_redact_credentials(text))


def redact_argv(argv: Sequence[str]) -> list[str]:
    """`redact_command` for an argv, the words as the Engine or /proc gives them: a
    word holding spaces (after `sh -c`) is redacted as a shell text of its own, unless
    it is the value of a secret flag (`--password 'two words'`), redacted whole."""
    state = _CommandState()
    out: list[str] = []
    for word in _argv_credentials(argv):
        if state.pending or word.startswith("-") or not any(c.isspace() for c in word):
            out.append(_redact_patterns(state.word(word)))
        else:
            out.append(_redact_words(word))
    return out


def redact_mapping(values: Mapping[str, object]) -> dict[str, object]:
    """Options shown as evidence (`log-opts`, driver options): the value of a
    secret-looking key (`splunk-token`, `password`) redacted, other string values passed
    through `redact_command`."""
    out: dict[str, object] = {}
    for key, value in values.items():
        if isinstance(value, str):
            secret = _secret_flag(key) or scan_env([(key.replace("-", "_"), value)])
            out[key] = _hide(value) if secret else redact_command(value)
        else:
            out[key] = value
    return out
