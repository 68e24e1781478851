"""Secret detection rules (dockwarden.secrets) and the image analyzer that applies them.

Secrets in this file are assembled from pieces so that the source holds none whole."""

from __future__ import annotations

import re
import re._constants as sre_c  # type: ignore[import-not-found]
import re._parser as sre_parse  # type: ignore[import-not-found]
import string
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockwarden import secrets
from dockwarden.collect.image.analyzer import AnalysisOutput, Analyzer, FileResult
from dockwarden.collect.image.secrets import MAX_FILE, SecretAnalyzer
from dockwarden.model.image import ImageFile, SecretHit
from dockwarden.secrets import (
    ALL_RULES,
    FILE_RULES,
    FOLDS_TO_ASCII,
    MAX_MATCHES,
    PATTERNS,
    RULES,
    could_match,
    file_rules,
    is_placeholder,
    redact,
    redact_text,
    rules_for,
    scan_env,
    scan_file,
    scan_history,
    scan_labels,
    scan_text,
)

A36 = "aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6"  # 36 alphanumerics
GHP = "ghp" + "_" + A36
AWS_ID = "AKIA" + "IOSFODNN7" + "EXAMPLE"  # AWS's documented example: still a finding
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG" + "/bPxRfiCYEXAMPLEKEY"
PEM_BODY = "MIIEowIBAAKCAQEA" + "x7Yb" * 16
PEM = f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----\n"
JWT = "eyJhbGciOiJIUzI1NiJ9" + "." + "eyJzdWIiOiIxMjM0NTY3ODkwIn0" + "." + "dozjgNryP4J3jVmNHl0w5N"


def rules_of(text: str) -> set[str]:
    return {m.rule.id for m in scan_text(text)}


# --- content rules: one line that fires, one that stays silent ---------------------------

@pytest.mark.parametrize("text,expected", [
    (f"key={AWS_ID}", {"aws-access-key-id"}),
    ("ASIA" + "Y34FZKBOKMUTVV7A", {"aws-access-key-id"}),
    (f"aws_secret_access_key = {AWS_SECRET}", {"aws-secret-access-key"}),
    (f'"SecretAccessKey": "{AWS_SECRET}"', {"aws-secret-access-key"}),
    (GHP, {"github-token"}),
    ("gho" + "_" + A36, {"github-token"}),
    ("ghs" + "_" + A36, {"github-token"}),
    ("ghu" + "_" + A36, {"github-token"}),
    ("github" + "_pat_" + "11ABCDEFG0" + "x" * 12 + "_" + "Y" * 59, {"github-token"}),
    ("glpat" + "-" + "xYz12AbC34dEf56GhI78", {"gitlab-token"}),
    ("xoxb" + "-1234567890-abcdefghijkl", {"slack-token"}),
    ("sk_live" + "_" + "4eC39HqLyjWDarjtT1zdp7dc", {"stripe-key"}),
    ("AIza" + "SyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW", {"google-api-key"}),
    (PEM, {"private-key"}),
    (PEM.replace("RSA ", "OPENSSH "), {"private-key"}),
    (PEM.replace("RSA ", ""), {"private-key"}),
    (PEM.replace("RSA ", "ENCRYPTED "), {"private-key"}),
    ("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF" + "x" * 30, {"private-key"}),
    ('{"private_key": "-----BEGIN PRIVATE KEY-----\\n' + PEM_BODY + '\\n"}', {"private-key"}),
    (f"Authorization: Bearer {JWT}", {"jwt"}),
    ("postgres://app:hunter22@db/app", {"url-password"}),
    ("https://deploy:s3cr3t-T0ken@git.example.org/x.git", {"url-password"}),
    ("//registry.npmjs.org/:_authToken=" + "npm" + "_" + A36, {"npm-token"}),
    ("pypi-AgEIcHlwaS5vcmc" + "CJDk5" * 12, {"pypi-token"}),
    ('{"auths": {"r.io": {"auth": "dXNlcjpodW50ZXIy"}}}', {"docker-auth"}),
    ('db_password = "Tr0ub4dor&3"', {"generic-password"}),
    ("SECRET_KEY = 'django-insecure-9f8e7d6c5b4a'", {"generic-password"}),
    ('"api_key": "a1b2c3d4e5f6g7"', {"generic-password"}),
])
def test_rule_fires(text: str, expected: set[str]) -> None:
    assert rules_of(text) == expected


@pytest.mark.parametrize("text", [
    "AKIA1234",  # too short
    "XAKIA" + "IOSFODNN7" + "EXAMPLE",  # glued to a word
    "ghp" + "_" + "short",
    "ghp" + "_" + A36[:30],
    "the -----BEGIN RSA PRIVATE KEY----- header",  # code naming the header, no key
    'if line == "-----BEGIN PRIVATE KEY-----\\n":',
    "-----BEGIN PUBLIC KEY-----\n" + PEM_BODY,
    "-----BEGIN CERTIFICATE-----\n" + PEM_BODY,
    "https://example.org/path?a=b",
    "https://user:${PASSWORD}@host/x",
    "https://user:pass@host/x",
    "http://user:password@localhost",
    "jdbc:mysql://db:3306/app",
    "git+ssh://git@github.com:org/repo.git",
    "//registry.npmjs.org/:_authToken=${NPM_TOKEN}",
    '"auth": "bm90YmFzaWM="',  # base64 of "notbasic": no colon
    '"auth": ""',
    'password = ""',
    'password = "changeme"',
    'password = "<your password>"',
    'password = "${DB_PASSWORD}"',
    'password = "********"',
    'password_file = "/run/secrets/db"',
    'password: "Password must be at least 8 characters"',
    'token = "abcdefghijk"',  # bare "token" is too common a key
    "eyJhbGciOiJIUzI1NiJ9",  # a JWT header alone
    "plain text with no secrets at all",
    "",
])
def test_rule_silent(text: str) -> None:
    assert rules_of(text) == set()


def test_line_numbers_and_order() -> None:
    text = f"a\nb {GHP}\n\nc {AWS_ID}\n"
    got = [(m.rule.id, m.line) for m in scan_text(text)]
    assert got == [("github-token", 2), ("aws-access-key-id", 4)]


def test_unicode_case_mapping_that_changes_lengths() -> None:
    assert len("\u0130".lower()) == 2  # offsets in the lower-cased text would be off
    assert rules_of("\u0130" * 5 + " " + GHP + " password='Tr0ub4dor&3'") == {
        "github-token", "generic-password"}


def test_matches_are_capped() -> None:
    assert len(scan_text(f"{AWS_ID}\n" * 1000)) == MAX_MATCHES


def test_rule_ids_unique_and_titled() -> None:
    ids = [r.id for r in RULES] + [r.id for r in FILE_RULES]
    assert len(ids) == len(set(ids))
    assert all(ALL_RULES[i].title for i in ids)
    assert "secret-name" in ALL_RULES


# --- redaction ------------------------------------------------------------------------

def test_redact_contract() -> None:
    assert redact("") == ""
    assert redact("hunter2") == "*******"
    assert redact("12345678") == "********"
    assert redact("123456789") == "123****89"
    shown = redact(GHP)
    assert shown.startswith("ghp") and shown.endswith(A36[-2:]) and A36[:6] not in shown
    assert len(redact("x" * 1000)) == 17


@given(st.text())
def test_redact_shows_at_most_three_and_two(value: str) -> None:
    shown = redact(value)
    if len(value) <= 8:
        assert shown == "*" * len(value)
    else:
        assert shown[:3] == value[:3] and shown[-2:] == value[-2:]
        assert set(shown[3:-2]) == {"*"} and 4 <= len(shown[3:-2]) <= 12


NO_STAR = st.text(alphabet=st.characters(blacklist_characters="*"), min_size=0, max_size=200)


@given(NO_STAR)
def test_redact_never_leaks_the_middle(value: str) -> None:
    shown = redact(value)
    middle = value[3:-2]
    assert not any(middle[i:i + 6] in shown for i in range(len(middle) - 5))


@settings(max_examples=200)
@given(token=st.text(alphabet=string.ascii_letters + string.digits, min_size=36, max_size=60),
       before=st.text(alphabet=" \n=:\"'", max_size=5))
def test_scan_text_never_leaks_a_token(token: str, before: str) -> None:
    secret = "ghp" + "_" + token
    matches = scan_text(f"x {before}{secret}\n")
    assert [m.rule.id for m in matches] == ["github-token"]
    middle = secret[3:-2]
    for m in matches:
        assert not any(middle[i:i + 6] in m.redacted for i in range(len(middle) - 5))


# --- environment variables (DW233 semantics) ----------------------------------------------

@pytest.mark.parametrize("env,rule", [
    # the table of tests/test_checks_container.py::test_secret_env
    (("DB_PASSWORD", "correct-horse-battery"), "secret-name"),
    (("DB_PASSWORD", "changeme"), None),
    (("DB_PASSWORD", ""), None),
    (("DB_PASSWORD_FILE", "/run/secrets/db"), None),
    (("DATABASE_URL", "postgres://app:hunter22@db/app"), "url-password"),
    (("GREETING", AWS_ID), "aws-access-key-id"),
    (("PATH", "/usr/bin:/bin"), None),
    (("AUTH_MODE", "oauth"), None),
    # more
    (("GITHUB_TOKEN", GHP), "github-token"),
    (("AWS_SECRET_ACCESS_KEY", AWS_SECRET), "aws-secret-access-key"),
    (("API_KEY", "abc"), None),  # shorter than 4
    (("API_KEY", "q9w8e7r6"), "secret-name"),
    (("apiKey", "q9w8e7r6"), "secret-name"),
    (("POSTGRES_PASSWORD", "${PG_PASS}"), None),
    (("POSTGRES_PASSWORD", "$PG_PASS"), None),
    (("POSTGRES_PASSWORD", "<secret>"), None),
    (("POSTGRES_PASSWORD", "xxxxxx"), None),
    (("POSTGRES_PASSWORD", "null"), None),
    (("POSTGRES_HOST_AUTH_METHOD", "trust"), None),
    (("SSL_PRIVATE_KEY", "/etc/ssl/private/app.key"), None),  # a path, not a key
    (("PWD", "/app"), None),
    (("OLDPWD", "/"), None),
    (("TOKEN_URL", "https://auth.example.org/token"), None),
    (("CLIENT_ID", "web-frontend"), None),
    (("AUTHOR", "Jane Doe"), None),
    (("SECRET_KEY_BASE", "9f86d081884c7d659a2feaa0c55ad015"), "secret-name"),
    (("GPG_KEY", "A035C8C19219BA821ECEA86B64E628F8D684696D"), None),
    (("PYTHON_VERSION", "3.11.9"), None),
])
def test_scan_env(env: tuple[str, str], rule: str | None) -> None:
    hits = scan_env([env])
    assert [h.rule.id for h in hits] == ([rule] if rule else [])
    for name, _, shown in hits:
        assert name == env[0]
        assert env[1] not in shown


def test_scan_env_keeps_order_and_names() -> None:
    hits = scan_env([("A_TOKEN", "q9w8e7r6t5"), ("HOME", "/root"), ("B", GHP)])
    assert [(h.name, h.rule.id) for h in hits] == [("A_TOKEN", "secret-name"),
                                                   ("B", "github-token")]


def test_scan_labels() -> None:
    labels = {"org.opencontainers.image.authors": "Jane <jane@example.org>",
              "deploy.registry-password": "q9w8e7r6t5", "maintainer": "x"}
    assert [(h.name, h.rule.id) for h in scan_labels(labels)] == [
        ("deploy.registry-password", "secret-name")]


@pytest.mark.parametrize("value,placeholder", [
    ("", True), ("changeme", True), ("${X}", True), ("$X", True), ("%(pw)s", True),
    ("{{ .Values.pw }}", True), ("<pw>", True), ("your_token_here", True), ("aaaa", True),
    ("example-password", True), ("hunter2hunter2", False), ("q9w8e7r6", False),
])
def test_is_placeholder(value: str, placeholder: bool) -> None:
    assert is_placeholder(value) is placeholder


# --- build history --------------------------------------------------------------------

@pytest.mark.parametrize("created_by,expected", [
    ("|2 NPM_TOKEN=q9w8e7r6t5y4 VERSION=1.2 /bin/sh -c npm ci", ["secret-name"]),
    (f"|1 GH={GHP} /bin/sh -c make", ["github-token"]),
    (f"|1 GITHUB_TOKEN={GHP} /bin/sh -c make", ["github-token"]),  # once, not twice
    ('/bin/sh -c #(nop)  ENV DB_PASSWORD="Tr0ub4dor&3"', ["generic-password"]),
    ("/bin/sh -c #(nop)  ENV DB_PASSWORD=Tr0ub4dor&3", ["secret-name"]),
    ("ENV DB_PASSWORD=changeme", []),
    ("ARG API_KEY", []),
    ("RUN /bin/sh -c curl -H \"Authorization: Bearer $TOKEN\" https://x", []),
    ("/bin/sh -c export PGPASSWORD=s3cr3tpw && psql", ["secret-name"]),
    ("/bin/sh -c apt-get update && apt-get install -y curl", []),
])
def test_scan_history(created_by: str, expected: list[str]) -> None:
    got = scan_history(created_by)
    assert [m.rule.id for m in got] == expected
    assert all(m.line == 1 for m in got)


def test_redact_text() -> None:
    npm = "npm" + "_" + A36
    step = (f"|3 NPM_TOKEN={npm} DB_PASSWORD='Tr0ub4dor&3' VERSION=1.2 /bin/sh -c "
            f"curl -H 'x: {GHP}' https://u:s3cr3t-pw@h/ && echo done")
    shown = redact_text(step)
    for raw in (npm, A36, A36[4:20], "Tr0ub4dor&3", "s3cr3t-pw"):
        assert raw not in shown
    assert shown.startswith("|3 NPM_TOKEN=npm*") and "DB_PASSWORD='Tr0******&3'" in shown
    assert "VERSION=1.2 /bin/sh -c curl" in shown and shown.endswith("@h/ && echo done")
    assert redact_text("apt-get install -y curl") == "apt-get install -y curl"


def test_redact_text_has_no_match_limit() -> None:
    text = " ".join(f"k{i}={AWS_ID}" for i in range(3 * MAX_MATCHES))
    assert "IOSFODNN" not in redact_text(text)


@settings(max_examples=200)
@given(st.lists(st.tuples(st.sampled_from([GHP, AWS_ID, JWT, "x", "TOKEN=", "-H"]),
                          st.sampled_from([" ", "\n", "=", "'", '"', " | "])),
                max_size=12))
def test_redact_text_hides_every_delimited_secret(items: list[tuple[str, str]]) -> None:
    text = "".join(item + sep for item, sep in items)
    shown = redact_text(text)
    for token in (GHP, AWS_ID, JWT):
        assert token[4:10] not in shown


# --- file rules -----------------------------------------------------------------------

@pytest.mark.parametrize("path,ids", [
    ("/root/.ssh/id_rsa", {"ssh-private-key"}),
    ("/home/app/.ssh/id_ed25519", {"ssh-private-key"}),
    ("/root/.ssh/id_rsa.pub", set()),
    ("/etc/ssh/ssh_host_ed25519_key", {"ssh-host-key"}),
    ("/etc/ssh/ssh_host_ed25519_key.pub", set()),
    ("/app/tls/server.key", {"private-key-file"}),
    ("/app/tls/SERVER.PEM", {"private-key-file"}),
    ("/app/keystore.p12", {"pkcs12"}),
    ("/app/cert.pfx", {"pkcs12"}),
    ("/root/.aws/credentials", {"aws-credentials"}),
    ("/root/.aws/config", set()),
    ("/root/.docker/config.json", {"docker-config"}),
    ("/app/config.json", set()),
    ("/root/.npmrc", {"npmrc"}),
    ("/root/.pypirc", {"pypirc"}),
    ("/root/.git-credentials", {"git-credentials"}),
    ("/root/.config/git/credentials", {"git-credentials"}),
    ("/root/.netrc", {"netrc"}),
    ("/app/.env", {"dotenv"}),
    ("/app/.env.production", {"dotenv"}),
    ("/app/prod.env", {"dotenv"}),
    ("/app/.env.example", set()),
    ("/app/.env.sample", set()),
    ("/root/.kube/config", {"kubeconfig"}),
    ("/etc/kubernetes/admin.conf", {"kubeconfig"}),
    ("/app/environment", set()),
    ("/etc/passwd", set()),
])
def test_file_rules_by_name(path: str, ids: set[str]) -> None:
    assert {r.id for r in file_rules(path)} == ids


def ids_lines(path: str, text: str | None) -> list[tuple[str, int | None]]:
    return [(m.rule.id, m.line) for m in scan_file(path, text)]


def test_ssh_key_by_name_and_content() -> None:
    assert ids_lines("/root/.ssh/id_rsa", PEM) == [("ssh-private-key", 1)]  # one, not two
    assert ids_lines("/root/.ssh/id_rsa", "garbage") == [("ssh-private-key", None)]
    assert ids_lines("/root/.ssh/id_rsa", None) == [("ssh-private-key", None)]


def test_pem_needs_a_private_key() -> None:
    cert = "-----BEGIN CERTIFICATE-----\n" + PEM_BODY + "\n-----END CERTIFICATE-----\n"
    assert ids_lines("/app/tls/ca.pem", cert) == []
    assert ids_lines("/app/tls/server.pem", cert + PEM) == [("private-key-file", 4)]
    assert ids_lines("/app/app.ppk", "PuTTY-User-Key-File-3: ssh-ed25519\n") == [
        ("private-key-file", 1)]
    assert ids_lines("/app/keystore.p12", None) == [("pkcs12", None)]


def test_aws_credentials_file() -> None:
    text = (f"[default]\naws_access_key_id = {AWS_ID}\n"
            f"aws_secret_access_key = {AWS_SECRET}\n")
    assert ids_lines("/root/.aws/credentials", text) == [
        ("aws-credentials", 3), ("aws-access-key-id", 2)]
    assert ids_lines("/root/.aws/credentials", "[default]\nregion = eu-west-1\n") == []


@pytest.mark.parametrize("path,text,expected", [
    ("/root/.docker/config.json", '{"auths": {"r.io": {"auth": "dXNlcjpodW50ZXIy"}}}',
     [("docker-config", 1)]),
    ("/root/.docker/config.json", '{"auths": {"r.io": {}}, "credsStore": "pass"}', []),
    ("/root/.npmrc", "//registry.npmjs.org/:_authToken=q9w8e7r6t5y4u3i2\n", [("npmrc", 1)]),
    ("/root/.npmrc", "//registry.npmjs.org/:_authToken=${NPM_TOKEN}\n", []),
    ("/root/.pypirc", "[pypi]\nusername = __token__\npassword = q9w8e7r6t5\n",
     [("pypirc", 3)]),
    ("/root/.pypirc", "[pypi]\nusername = me\n", []),
    ("/root/.git-credentials", "https://me:q9w8e7r6@github.com\n", [("git-credentials", 1)]),
    ("/root/.netrc", "machine h login me password q9w8e7r6\n", [("netrc", 1)]),
    ("/root/.netrc", "machine h login me\n", []),
    ("/app/.env", "# db\nDB_HOST=db\nDB_PASSWORD='Tr0ub4dor&3'\nDEBUG=1\n", [("dotenv", 3)]),
    ("/app/.env", "export API_KEY=q9w8e7r6t5 # prod\n", [("dotenv", 1)]),
    ("/app/.env", "DB_PASSWORD=changeme\nAPI_KEY=\n", []),
    ("/app/.env", f"APP_MODE=production\nSTRIPE=sk_live_{A36}\n", [("dotenv", 2)]),
    ("/app/.env.example", f"GITHUB_TOKEN={GHP}\n", [("github-token", 1)]),  # content still
    ("/root/.kube/config", "users:\n- name: a\n  user:\n    client-key-data: LS0tLS1CRUdJTiBS\n",
     [("kubeconfig", 4)]),
    ("/root/.kube/config", "users:\n- name: a\n  user:\n    exec: {command: aws}\n", []),
])
def test_file_rules_confirmed_by_content(path: str, text: str,
                                         expected: list[tuple[str, int]]) -> None:
    assert ids_lines(path, text) == expected


def test_plain_file_gets_content_rules_only() -> None:
    assert ids_lines("/app/settings.py", f"X = 1\nTOKEN = '{GHP}'\n") == [("github-token", 2)]
    assert ids_lines("/app/settings.py", None) == []


# --- regex safety ---------------------------------------------------------------------

_REPEATS = {sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, sre_c.POSSESSIVE_REPEAT}


def _nested_repeats(node: Any, inside: bool) -> list[str]:
    bad: list[str] = []
    for op, av in node:
        if op in _REPEATS:
            if inside:
                bad.append(str(op))
            bad += _nested_repeats(av[2], True)
        elif op in (sre_c.SUBPATTERN,):
            bad += _nested_repeats(av[3], inside)
        elif op in (sre_c.ASSERT, sre_c.ASSERT_NOT):
            bad += _nested_repeats(av[1], inside)
        elif op == sre_c.ATOMIC_GROUP:
            bad += _nested_repeats(av, inside)
        elif op == sre_c.BRANCH:
            for branch in av[1]:
                bad += _nested_repeats(branch, inside)
        elif op == sre_c.GROUPREF_EXISTS:
            bad += _nested_repeats(av[1], inside)
            if av[2] is not None:
                bad += _nested_repeats(av[2], inside)
    return bad


def test_every_pattern_is_registered() -> None:
    assert all(r.pattern in PATTERNS for r in RULES)
    assert len(PATTERNS) > len(RULES)  # the confirm patterns of file rules too


@pytest.mark.parametrize("pattern", PATTERNS, ids=lambda p: p.pattern[:40])
def test_no_nested_quantifiers(pattern: re.Pattern[str]) -> None:
    assert _nested_repeats(sre_parse.parse(pattern.pattern, pattern.flags), False) == []


def test_the_structural_check_catches_nesting() -> None:
    assert _nested_repeats(sre_parse.parse(r"(a+)+b"), False)
    assert _nested_repeats(sre_parse.parse(r"(?:x(?:ab)*y){2,}"), False)
    assert not _nested_repeats(sre_parse.parse(r"a+b*(?:cd)?"), False)


MB = 1 << 20
SEEDS = ["AKIA", "ghp_", "gh", "github_pat_", "glpat-", "xoxb-", "sk_live_", "AIza", "eyJ",
         "eyJa.", "-----BEGIN PRIVATE KEY-----", "-----BEGIN RSA ", "PRIVATE KEY-----\n",
         "://a:", "://", "_authToken=", "_authToken=$", "npm_", "pypi-AgEIcHlwaS5vcmc",
         '"auth": "', 'password="', "password = '", "accesstoken='", "secret_access_key=",
         "A=", "|2 A=", "a", "a:", "a@", " ", "\n", "ghp_aaaa_", "pw='x", "export X",
         "password ", "client-key-data: ", "- token:", A36]


def _megabyte(seed: str) -> str:
    return (seed * (MB // len(seed) + 1))[:MB]


@pytest.mark.parametrize("seed", [*SEEDS, "".join(SEEDS)], ids=repr)
def test_adversarial_megabyte_lines_just_run(seed: str) -> None:
    text = _megabyte(seed)
    scan_text(text)
    scan_history(text)
    scan_env([("DB_PASSWORD", text)])


@pytest.mark.parametrize("rule", [r for r in FILE_RULES if r.confirm is not None],
                         ids=lambda r: r.id)
def test_adversarial_megabyte_file_confirm_just_runs(rule: Any) -> None:
    for seed in ("".join(SEEDS), "password ", "- token:", '"auth":"', "://a:", "a=\n",
                 "PASSWORD=abcd\n"):
        rule.confirm(_megabyte(seed))


FRAGMENTS = ["ghp_", "gh", "github_pat_", A36, "AKIA", "ASIA", "AIza", "eyJ", ".", "-", "_",
             "=", ":", "'", '"', " ", "\n", "://", "@", "u", "pw", "password", "PASSWORD",
             "api_key", "accessToken", "auth_token", "token", "secret", "SECRET_KEY",
             "_authToken", "npm_", "xoxb-", "sk_live_", "glpat-", "-----BEGIN ", "RSA ",
             "PRIVATE KEY-----", "dXNlcjpwYXNz", '"auth"', "pypi-AgEIcHlwaS5vcmc", "Q9w8e7r6"]


@settings(max_examples=300)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join))
def test_anchored_search_equals_finditer(text: str) -> None:
    for rule in RULES:
        assert rule.anchors
        plain = rule._replace(anchors=())
        assert rule.secrets(text) == plain.secrets(text), rule.id


# --- the first look over raw bytes (could_match) ---------------------------------------

needs_hyperscan = pytest.mark.skipif(
    could_match(b"") is True, reason="no hyperscan module: could_match always says True")


def test_folds_to_ascii_is_every_such_character() -> None:
    """The filter's premise: only these non-ASCII characters lower-case to something
    holding ASCII, so an anchor in `text.lower()` comes from ASCII bytes or from them."""
    found = {chr(c) for c in range(128, 0x110000)
             if any(ord(x) < 128 for x in chr(c).lower())}
    assert found == set(FOLDS_TO_ASCII)


@needs_hyperscan
def test_could_match_sees_each_anchor_in_any_case() -> None:
    assert not could_match(b"def handler(request):\n    return cache[key]\n" * 100)
    for rule in RULES:
        for anchor in rule.anchors:
            for form in (anchor, anchor.upper(), anchor.title()):
                assert could_match(b"x = " + form.encode() + b" # tail"), (rule.id, form)
    for ch in FOLDS_TO_ASCII:
        assert could_match(("pre" + ch + "post").encode())


NON_ASCII = ["\u0130", "\u212a", "\u00e9", "\u03a3", "\u1e9e", "\ufb00", "\ud7ff", "\U0001f600"]


@settings(max_examples=400)
@given(st.lists(st.sampled_from(FRAGMENTS + NON_ASCII), max_size=40).map("".join),
       st.binary(max_size=8))
def test_the_rules_a_file_is_scanned_with_find_all_there_is(text: str, junk: bytes) -> None:
    """Scanning with the rules whose anchors the bytes hold finds what scanning with
    every rule finds, whatever the bytes (invalid UTF-8 included); none: nothing."""
    for data in (text.encode(), junk + text.encode() + junk):
        decoded = data.decode("utf-8", "replace")
        chosen = rules_for(data)
        assert scan_text(decoded, chosen) == scan_text(decoded)
        if not could_match(data):
            assert scan_text(decoded) == []


@needs_hyperscan
def test_rules_for_picks_by_anchor() -> None:
    assert rules_for(b"nothing here") == ()
    assert {r.id for r in rules_for(b"x = 'ghp_...'")} == {"github-token"}
    assert {r.id for r in rules_for(b"PASSWORD = 1 and a token")} == {"generic-password"}
    assert rules_for("\u212a".encode()) == RULES


def test_triage_settles_plain_files_and_keeps_the_rest() -> None:
    a = SecretAnalyzer()
    assert a.triage("/app/x.py", f"TOKEN = '{GHP}'\n".encode())
    assert a.triage("/root/.ssh/id_rsa", b"\0binary")  # a name rule: always analysed
    if could_match(b"") is False:
        assert not a.triage("/app/x.py", b"import os\nprint(os.getcwd())\n")
    assert a.analyze("/app/x.py", b"import os\n") is None


# --- the analyzer ---------------------------------------------------------------------

class EmptyView:
    def get(self, path: str) -> ImageFile | None:
        return None

    def resolve(self, path: str) -> ImageFile | None:
        return None

    def layer_of(self, path: str) -> int | None:
        return None


def test_is_an_analyzer() -> None:
    analyzer: Analyzer = SecretAnalyzer()
    assert analyzer.name == "secrets" and analyzer.max_bytes == MAX_FILE


@pytest.mark.parametrize("path,size,wanted", [
    ("/app/config.yml", 300, True),
    ("/app/run", 300, True),  # no extension: a script or config
    ("/etc/app/app.conf", 300, True),
    ("/root/.bash_history", 300, True),
    ("/app/config.yml", 0, False),
    ("/app/dump.sql", MAX_FILE + 1, False),
    ("/app/logo.PNG", 300, False),
    ("/app/lib/libfoo.so.1.2", 300, False),
    ("/app/app.jar", 300, False),
    ("/app/x.pyc", 300, False),
    ("/usr/share/doc/x/README", 300, False),
    ("/usr/lib/x86_64-linux-gnu/libc.so.6", 300, False),
    ("/usr/include/stdio.h", 300, False),
    ("/lib/apk/db/installed", 300, False),
    ("/var/lib/dpkg/status", 300, False),
    ("/var/cache/debconf/config.dat", 300, False),
    ("/proc/1/environ", 300, False),
    ("/usr/local/lib/python3.11/site-packages/x/settings.py", 300, False),
    ("/app/node_modules/x/index.js", 300, False),
    # name rules: any size, also in system trees, never in package trees
    ("/root/.ssh/id_rsa", 3000, True),
    ("/app/keystore.p12", 5 * MAX_FILE, True),
    ("/usr/lib/ssl/private/server.key", 300, True),
    ("/usr/local/lib/python3.11/site-packages/tornado/test/test.key", 300, False),
    ("/usr/lib/python3/dist-packages/twisted/test/server.pem", 300, False),
    ("/app/node_modules/x/test/key.pem", 300, False),
    ("/usr/share/doc/openssl/demo.key", 300, False),
    ("/proc/self/.env", 300, False),
])
def test_wants(path: str, size: int, wanted: bool) -> None:
    assert SecretAnalyzer().wants(path, size, 0o644) is wanted


def test_analyze_returns_redacted_matches_only() -> None:
    got = SecretAnalyzer().analyze("/app/settings.py", f"TOKEN = '{GHP}'\n".encode())
    assert isinstance(got, tuple) and len(got) == 1
    assert A36 not in repr(got)
    assert SecretAnalyzer().analyze("/app/settings.py", b"DEBUG = True\n") is None


def test_analyze_skips_binary_content() -> None:
    blob = b"\x7fELF\x02\x01\x01\x00" + GHP.encode() + b"\n"
    assert SecretAnalyzer().analyze("/app/server", blob) is None
    got = SecretAnalyzer().analyze("/app/keystore.p12", b"\x30\x82\x00\x00" + b"\x00" * 64)
    assert isinstance(got, tuple) and [rule for rule, _, _ in got] == ["pkcs12"]


@given(st.binary(max_size=4096))
def test_analyze_never_raises(data: bytes) -> None:
    for path in ("/app/x", "/root/.ssh/id_rsa", "/app/.env", "/root/.docker/config.json"):
        SecretAnalyzer().analyze(path, data)


def test_analyze_tolerates_invalid_utf8() -> None:
    got = SecretAnalyzer().analyze("/app/x.conf", b"\xff\xfe\xfa " + GHP.encode())
    assert isinstance(got, tuple) and got[0][0] == "github-token"


def _results(analyzer: SecretAnalyzer, files: dict[str, tuple[int, bytes]]
             ) -> dict[str, FileResult]:
    out: dict[str, FileResult] = {}
    for path, (layer, data) in files.items():
        if analyzer.wants(path, len(data), 0o600):
            value = analyzer.analyze(path, data)
            if value is not None:
                out[path] = FileResult(path, layer, value)
    return out


def test_finish_makes_hits_with_path_and_layer() -> None:
    analyzer = SecretAnalyzer()
    results = _results(analyzer, {
        "/root/.ssh/id_rsa": (2, PEM.encode()),
        "/app/.env": (3, b"DB_HOST=db\nDB_PASSWORD=Tr0ub4dor3x\n"),
        "/app/README.md": (3, b"nothing here\n"),
        "/usr/share/doc/x/key.txt": (0, GHP.encode()),
    })
    out = analyzer.finish(results, EmptyView())
    assert isinstance(out, AnalysisOutput)
    assert out.secrets == (
        SecretHit("dotenv", "/app/.env", 3, 2, redact("Tr0ub4dor3x")),
        SecretHit("ssh-private-key", "/root/.ssh/id_rsa", 2, 1, out.secrets[1].redacted),
    )
    assert PEM_BODY[8:20] not in repr(out)


def test_finish_only_sees_what_it_is_given() -> None:
    # The walker drops files hidden by a whiteout or an opaque directory before finish:
    # a secret added in layer 1 and deleted in layer 2 never reaches it.
    analyzer = SecretAnalyzer()
    results = _results(analyzer, {"/app/.env": (1, b"API_KEY=q9w8e7r6t5\n")})
    assert analyzer.finish(results, EmptyView()).secrets
    assert analyzer.finish({}, EmptyView()).secrets == ()


def test_finish_ignores_foreign_values() -> None:
    results = {"/x": FileResult("/x", 0, "not matches"), "/y": FileResult("/y", 0, (1, 2))}
    assert SecretAnalyzer().finish(results, EmptyView()).secrets == ()


# --- fixed credentials: DW517's table, hidden by redact_command for every caller ---------

@pytest.mark.parametrize(("command", "literal", "what"), [
    ("echo 'root:hunter2' | chpasswd", "hunter2", "chpasswd root:******"),
    ("echo -e \"app:s3cretpw\" | sudo chpasswd", "s3cretpw", "chpasswd app:******"),
    ("chpasswd <<< 'app:pa55word'", "pa55word", "chpasswd app:******"),
    ("chpasswd <<< app:pa55word; echo done", "pa55word", "chpasswd app:******"),  # found by
    # test_every_fixed_credential_is_hidden: the `;` was taken into the password
    ("echo hunter22 | passwd --stdin root", "hunter22", "passwd"),
    ("mysql -e \"CREATE USER 'a'@'%' IDENTIFIED BY 'pw123456'\"", "pw123456",
     "IDENTIFIED BY '******'"),
    ("mysql -e \"ALTER USER root IDENTIFIED WITH mysql_native_password BY 'Root#2024'\"",
     "Root#2024", "IDENTIFIED WITH mysql_native_password BY '******'"),
    ("mysql -e \"SET PASSWORD FOR root = PASSWORD('123456')\"", "123456",
     "PASSWORD('******')"),
    ("psql -c \"CREATE ROLE app WITH ENCRYPTED PASSWORD 'pgpass99'\"", "pgpass99",
     "WITH ENCRYPTED PASSWORD '******'"),
    ("PGADMIN_SETUP_PASSWORD=admin123 python setup.py", "admin123",
     "PGADMIN_SETUP_PASSWORD=******"),
    ("export DB_PASSWORD='Tr0ub4dor&3' && ./run", "Tr0ub4dor&3", "DB_PASSWORD=******"),
    ("X_PASSWORD=admin ./run", "admin", "X_PASSWORD=******"),  # a placeholder word, set
    ("useradd -m -p '$6$salt$abcdefgh' app", "$6$salt$abcdefgh", "useradd -p ******"),
    ("useradd -m \\\n  --password=opensesame app", "opensesame", "useradd --password ******"),
    ("mysqladmin -u root password s3cr3tpw", "s3cr3tpw", "mysqladmin password ******"),
])
def test_fixed_credentials_found_and_redacted(command: str, literal: str, what: str) -> None:
    found = secrets.fixed_credentials(command)
    assert [c.what for c in found] == [what]
    assert command[found[0].start:found[0].end] == literal == found[0].literal
    shown = secrets.redact_command(command)
    assert literal not in shown and redact(literal) in shown
    assert literal not in " ".join(secrets.redact_argv(["sh", "-c", command]))


@pytest.mark.parametrize("command", [
    "echo \"app:$PW\" | chpasswd",
    "echo \"root:${ROOT_PW}\" | chpasswd",
    "echo \"root:$(cat /run/secrets/pw)\" | chpasswd",
    "echo $PW | passwd --stdin app",
    "DB_PASSWORD=$DB_PW ./x",
    "DB_PASSWORD=${DB_PW:-x} ./x",
    "DB_PASSWORD= ./x",
    "DB_PASSWORD=\"\" ./x",
    "DB_PASSWORD_FILE=/run/secrets/db ./x",
    "mysql -e \"CREATE USER 'a'@'%' IDENTIFIED BY '$PW'\"",
    "useradd -p \"$(openssl passwd -6 \"$PW\")\" app",
    "passwd -l root",
    "useradd -m app && usermod -aG sudo app",
    "apt-get install -y passwd",
])
def test_references_and_empty_values_are_not_credentials(command: str) -> None:
    assert secrets.fixed_credentials(command) == []
    assert secrets.redact_command(command) == command


def test_a_credential_is_hidden_wherever_it_recurs() -> None:
    command = "echo 'root:Q9w8e7r6' | chpasswd && echo Q9w8e7r6 > /root/pw.txt"
    assert "Q9w8e7r6" not in secrets.redact_command(command)
    argv = ["sh", "-c", "echo root:Q9w8e7r6 | chpasswd", "Q9w8e7r6"]
    assert not any("Q9w8e7r6" in w for w in secrets.redact_argv(argv))


def test_argv_words_keep_their_shape() -> None:
    argv = ["useradd", "-m", "-p", "opensesame1", "app"]
    assert secrets.redact_argv(argv) == ["useradd", "-m", "-p", redact("opensesame1"), "app"]
    # -p is no password for other programs
    assert secrets.redact_argv(["docker", "run", "-p", "8080:80", "x"])[3] == "8080:80"


@pytest.mark.parametrize("seed", ["echo a:", "echo a:b|chpasswd ", "echo passwd ",
                                  "IDENTIFIED BY '", "identified with x by 'a", "PASSWORD('",
                                  "WITH PASSWORD 'a", "useradd -p ", "useradd \\\n",
                                  "mysqladmin password ", "A_PASSWORD=x ", "chpasswd <<< a:",
                                  "echo 'passwd | "], ids=repr)
def test_adversarial_credential_lines_just_run(seed: str) -> None:
    text = _megabyte(seed)
    secrets.fixed_credentials(text)
    secrets.redact_command(text)
    secrets.redact_argv(text.split(" ")[:5000])


_CREDENTIAL_TEMPLATES = [
    "echo 'root:{pw}' | chpasswd", "echo \"app:{pw}\" | sudo chpasswd", "echo {pw} | passwd root",
    "chpasswd <<< app:{pw}", "mysql -e \"CREATE USER 'a'@'%' IDENTIFIED BY '{pw}'\"",
    "mysql -e \"SET PASSWORD = PASSWORD('{pw}')\"", "DB_PASSWORD={pw} ./run",
    "export ADMIN_PASS=\"{pw}\"", "useradd -m -p '{pw}' app", "usermod --password={pw} app",
    "mysqladmin -u root password {pw}",
]


@given(st.lists(st.tuples(st.sampled_from(_CREDENTIAL_TEMPLATES),
                          st.text(string.ascii_letters + string.digits + "#%@!._+=:/,",
                                  min_size=5, max_size=40)),
                min_size=1, max_size=5),
       st.sampled_from([" && ", "; ", " \\\n && ", "\n"]))
def test_every_fixed_credential_is_hidden(items: list[tuple[str, str]], sep: str) -> None:
    pws = ["Zx" + pw + f"q{n}" for n, (_, pw) in enumerate(items)]  # unique, letter-led
    text = sep.join(t.format(pw=pw) for (t, _), pw in zip(items, pws, strict=True))
    found = {c.literal for c in secrets.fixed_credentials(text)}
    assert found == set(pws)
    shown = secrets.redact_command(text)
    assert not any(pw in shown for pw in pws), shown
    shown_argv = " ".join(secrets.redact_argv(["sh", "-c", text]))
    assert not any(pw in shown_argv for pw in pws), shown_argv


def test_content_rules_filter_is_safe_across_threads() -> None:
    """Image layers are scanned by several threads at once: the anchor filter gives each
    thread its own Hyperscan scratch (a shared one failed with ScratchInUseError, which
    made `image --all` lose images)."""
    import threading

    from dockwarden import secrets

    data = [(b"AKIA" + b"x" * 16 + b" password=foo github_pat_ " * 50 + bytes([i])) * 200
            for i in range(32)]
    want = [secrets.rules_for(d) for d in data]
    errors: list[BaseException] = []

    def scan() -> None:
        try:
            for _ in range(20):
                for d, w in zip(data, want, strict=True):
                    assert secrets.rules_for(d) == w
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=scan) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
