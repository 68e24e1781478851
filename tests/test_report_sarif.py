"""SARIF and JUnit renderers: validated against the official SARIF 2.1.0 schema, and
parsed back, on hand-built reports with hostile strings."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from dockwarden import __version__, sanitize
from dockwarden.model.common import Severity, Source, TargetKind
from dockwarden.model.finding import (
    Finding,
    Report,
    ReportError,
    ReportTarget,
    Skipped,
    Target,
)
from dockwarden.report import junit, sarif
from dockwarden.report.sarif import RuleInfo

SCHEMA_PATH = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"

HOSTILE = "ünïcødé ☃ 🐳 \"quoted\" 'single' <tag> & \x00\x01\x07\x1b[31m\x7f\x9b end"
LONG = "A" * 10_000

CONTAINER = Target(TargetKind.CONTAINER, "web-1", id="3f2a9c0d11aa")
COMPOSE = Target(TargetKind.COMPOSE, "deploy/docker-compose.yml", line=12, service="web")
DAEMON = Target(TargetKind.DAEMON, "unix:///var/run/docker.sock")

RULES = [
    RuleInfo("DW201", "Container runs privileged", Severity.CRITICAL,
             "A privileged container has every capability and all host devices.",
             "Remove --privileged; add only the capabilities it needs.",
             ("CIS Docker Benchmark 1.6.0 5.5",)),
    RuleInfo("DW214", "No PIDs limit", Severity.HIGH,
             "A fork bomb can exhaust the host's process table.",
             "Set --pids-limit (compose: pids_limit).", ("CIS Docker Benchmark 1.6.0 5.29",)),
    RuleInfo("DW215", "No memory limit", Severity.MEDIUM, "Memory exhaustion.",
             "Set --memory.", ()),
    RuleInfo("DW216", "No CPU limit or shares", Severity.LOW, "CPU starvation.",
             "Set --cpus.", ()),
    RuleInfo("DW118", "Daemon runs as root", Severity.INFO, "Rootless mode is not used.",
             "Consider rootless mode.", ()),
    RuleInfo("DW999", "Never used", Severity.LOW, "Unused rule.", "Nothing.", ()),
]


def finding(check: str, severity: Severity, target: Target, evidence: dict[str, Any],
            source: Source = Source.ENGINE, message: str = "") -> Finding:
    meta = next((r for r in RULES if r.id == check), None)
    return Finding(
        check=check,
        severity=severity,
        title=meta.title if meta else f"Title of {check}",
        target=target,
        source=source,
        evidence=evidence,
        remediation=meta.remediation if meta else "fix it",
        references=meta.references if meta else (),
        message=message,
    )


def make_report(*, complete: bool = True) -> Report:
    return Report(
        started="2026-11-28T10:00:00Z",
        finished="2026-11-28T10:00:01Z",
        targets=(
            ReportTarget(TargetKind.ENGINE, "unix:///var/run/docker.sock", complete),
            ReportTarget(TargetKind.COMPOSE, "deploy/docker-compose.yml", True),
        ),
        findings=(
            finding("DW201", Severity.CRITICAL, CONTAINER, {"HostConfig.Privileged": True}),
            finding("DW215", Severity.MEDIUM, CONTAINER,
                    {"HostConfig.Memory": 0, "hostile": HOSTILE, "long": LONG},
                    message=HOSTILE),
            finding("DW214", Severity.HIGH, COMPOSE, {"pids_limit": None},
                    source=Source.COMPOSE),
            finding("DW216", Severity.LOW, COMPOSE, {"cpus": None}, source=Source.COMPOSE),
            finding("DW118", Severity.INFO, DAEMON, {"rootless": False}),
            finding("DW777", Severity.HIGH, DAEMON, {"no": "catalogue entry"}),
        ),
        skipped=(
            Skipped("DW211", CONTAINER, "AppArmor is not available on this host"),
            Skipped("DW212", CONTAINER, HOSTILE),
        ),
        errors=(
            ReportError("web-2", "container vanished during inspection"),
            ReportError("web-1", f"check crashed: ValueError: {HOSTILE}", check="DW236"),
        ),
        passed=17,
    )


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    with SCHEMA_PATH.open(encoding="utf-8") as fh:
        schema = json.load(fh)
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def render_sarif(report: Report) -> dict[str, Any]:
    text = sarif.render(report, RULES)
    text.encode("utf-8")  # always writable as UTF-8
    doc: dict[str, Any] = json.loads(text)
    return doc


def results_by_rule(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["ruleId"]: r for r in doc["runs"][0]["results"]}


# --- the schema file itself ----------------------------------------------------------


def test_schema_file_is_the_official_sarif_schema() -> None:
    with SCHEMA_PATH.open(encoding="utf-8") as fh:
        schema = json.load(fh)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["properties"]["version"]["enum"] == ["2.1.0"]
    assert len(schema["definitions"]) == 52
    assert SCHEMA_PATH.stat().st_size == 112_318


def test_schema_rejects_a_broken_log(validator: jsonschema.Draft7Validator) -> None:
    doc = render_sarif(make_report())
    doc["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(doc)
    doc = render_sarif(make_report())
    del doc["runs"][0]["tool"]
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(doc)


# --- SARIF -----------------------------------------------------------------------------


def test_sarif_validates_against_schema(validator: jsonschema.Draft7Validator) -> None:
    validator.validate(render_sarif(make_report()))


def test_sarif_validates_incomplete_report(validator: jsonschema.Draft7Validator) -> None:
    doc = render_sarif(make_report(complete=False))
    validator.validate(doc)
    assert doc["runs"][0]["invocations"][0]["executionSuccessful"] is False
    assert doc["runs"][0]["properties"]["complete"] is False


def test_sarif_validates_empty_report(validator: jsonschema.Draft7Validator) -> None:
    report = Report(started="2026-11-28T10:00:00Z", finished="2026-11-28T10:00:00Z",
                    targets=(), findings=())
    doc = render_sarif(report)
    validator.validate(doc)
    run = doc["runs"][0]
    assert run["results"] == []
    assert run["tool"]["driver"]["rules"] == []
    assert "toolExecutionNotifications" not in run["invocations"][0]


def test_sarif_header_and_driver() -> None:
    doc = render_sarif(make_report())
    assert doc["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert doc["version"] == "2.1.0"
    assert len(doc["runs"]) == 1
    driver = doc["runs"][0]["tool"]["driver"]
    assert driver["name"] == "dockwarden"
    assert driver["version"] == __version__
    assert "informationUri" not in driver


def test_sarif_levels_follow_severity() -> None:
    results = results_by_rule(render_sarif(make_report()))
    assert results["DW201"]["level"] == "error"  # critical
    assert results["DW214"]["level"] == "error"  # high
    assert results["DW215"]["level"] == "warning"  # medium
    assert results["DW216"]["level"] == "note"  # low
    assert results["DW118"]["level"] == "note"  # info
    assert results["DW201"]["properties"]["security-severity"] == "9.5"
    assert results["DW118"]["properties"]["security-severity"] == "0.0"


def test_sarif_rules_only_for_used_checks() -> None:
    doc = render_sarif(make_report())
    rules = doc["runs"][0]["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    assert ids == sorted({"DW201", "DW214", "DW215", "DW216", "DW118", "DW777"})
    assert "DW999" not in ids
    for result in doc["runs"][0]["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]


def test_sarif_rule_metadata() -> None:
    rules = {r["id"]: r for r in render_sarif(make_report())["runs"][0]["tool"]["driver"]["rules"]}
    r = rules["DW201"]
    assert r["name"] == "ContainerRunsPrivileged"
    assert r["shortDescription"]["text"] == "Container runs privileged"
    assert r["fullDescription"]["text"].startswith("A privileged container")
    assert r["help"]["text"] == "Remove --privileged; add only the capabilities it needs."
    assert r["defaultConfiguration"]["level"] == "error"
    assert r["properties"]["severity"] == "critical"
    assert r["properties"]["security-severity"] == "9.5"
    assert r["properties"]["references"] == ["CIS Docker Benchmark 1.6.0 5.5"]
    assert "security" in r["properties"]["tags"]
    assert rules["DW215"]["properties"]["security-severity"] == "5.5"
    assert rules["DW216"]["properties"]["security-severity"] == "3.0"
    assert rules["DW214"]["properties"]["security-severity"] == "8.0"
    # a check absent from the catalogue is described from its finding
    assert rules["DW777"]["shortDescription"]["text"] == "Title of DW777"
    assert rules["DW777"]["defaultConfiguration"]["level"] == "error"


def test_sarif_rule_default_level_is_catalogue_severity() -> None:
    raised = finding("DW215", Severity.CRITICAL, CONTAINER, {"HostConfig.Memory": 0})
    report = replace(make_report(), findings=(raised,))
    doc = render_sarif(report)
    assert doc["runs"][0]["results"][0]["level"] == "error"
    assert doc["runs"][0]["tool"]["driver"]["rules"][0]["defaultConfiguration"]["level"] == (
        "warning")


def test_sarif_accepts_checkmeta_like_objects() -> None:
    from dockwarden.checks.registry import iter_catalogue  # tests may import checks

    catalogue = list(iter_catalogue())
    if not catalogue:
        import dockwarden.checks  # noqa: F401  (registers the checks)

        catalogue = list(iter_catalogue())
    meta = next(m for m in catalogue if m.id == "DW201")
    report = replace(make_report(), findings=(
        finding("DW201", Severity.CRITICAL, CONTAINER, {"HostConfig.Privileged": True}),))
    doc = json.loads(sarif.render(report, catalogue))
    rule = doc["runs"][0]["tool"]["driver"]["rules"][0]
    assert rule["id"] == "DW201"
    assert rule["fullDescription"]["text"] == meta.rationale
    assert len(doc["runs"][0]["tool"]["driver"]["rules"]) == 1


def test_sarif_message_text() -> None:
    results = results_by_rule(render_sarif(make_report()))
    text = results["DW201"]["message"]["text"]
    assert text.startswith("Container runs privileged")
    assert "web-1" in text
    assert results["DW215"]["message"]["text"].startswith("No memory limit: ünïcødé")


def test_sarif_file_target_has_physical_location() -> None:
    result = results_by_rule(render_sarif(make_report()))["DW214"]
    (loc,) = result["locations"]
    assert loc["physicalLocation"]["artifactLocation"]["uri"] == "deploy/docker-compose.yml"
    assert loc["physicalLocation"]["region"]["startLine"] == 12
    assert "logicalLocations" not in loc
    assert result["properties"]["target"]["service"] == "web"
    assert result["properties"]["source"] == "compose"


def test_sarif_file_uri_is_encoded(validator: jsonschema.Draft7Validator) -> None:
    target = Target(TargetKind.DOCKERFILE, "my app/Dockerfile#1", line=3)
    report = replace(make_report(), findings=(
        finding("DW216", Severity.LOW, target, {}, source=Source.DOCKERFILE),))
    doc = render_sarif(report)
    validator.validate(doc)
    uri = doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert uri["uri"] == "my%20app/Dockerfile%231"


def test_sarif_live_target_has_logical_location() -> None:
    result = results_by_rule(render_sarif(make_report()))["DW201"]
    (loc,) = result["locations"]
    assert "physicalLocation" not in loc
    assert loc["logicalLocations"] == [
        {"name": "web-1", "kind": "container", "fullyQualifiedName": "container/web-1"}
    ]
    props = result["properties"]
    assert props["evidence"] == {"HostConfig.Privileged": True}
    assert props["target"] == {"kind": "container", "ref": "web-1", "id": "3f2a9c0d11aa"}
    assert props["source"] == "engine"
    assert props["severity"] == "critical"


def test_sarif_hostile_evidence_round_trips() -> None:
    result = results_by_rule(render_sarif(make_report()))["DW215"]
    evidence = result["properties"]["evidence"]
    assert evidence["hostile"] == sanitize.clean(HOSTILE)  # controls shown escaped
    assert evidence["long"] == LONG


def test_sarif_odd_evidence_values(validator: jsonschema.Draft7Validator) -> None:
    evidence = {"set": {"b", "a"}, "tuple": (1, 2), "nan": float("nan"),
                "sev": Severity.HIGH, "surrogate": "bad \udcff byte", "obj": object}
    report = replace(make_report(), findings=(
        finding("DW201", Severity.CRITICAL, CONTAINER, evidence),))
    doc = render_sarif(report)
    validator.validate(doc)
    ev = doc["runs"][0]["results"][0]["properties"]["evidence"]
    assert ev["set"] == ["a", "b"]
    assert ev["tuple"] == [1, 2]
    assert ev["nan"] == "nan"
    assert ev["sev"] == "high"
    assert ev["surrogate"] == "bad \\udcff byte"


def test_sarif_notifications_for_errors_and_skips() -> None:
    invocation = render_sarif(make_report())["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is True
    assert invocation["startTimeUtc"] == "2026-11-28T10:00:00Z"
    assert invocation["endTimeUtc"] == "2026-11-28T10:00:01Z"
    notes = invocation["toolExecutionNotifications"]
    errors = [n for n in notes if n["level"] == "error"]
    skips = [n for n in notes if n["level"] == "note"]
    assert len(errors) == 2
    assert len(skips) == 2
    assert errors[0]["message"]["text"] == "web-2: container vanished during inspection"
    assert errors[1]["associatedRule"] == {"id": "DW236"}
    assert skips[0]["message"]["text"] == (
        "DW211 skipped on web-1: AppArmor is not available on this host")
    assert skips[1]["message"]["text"] == f"DW212 skipped on web-1: {sanitize.clean(HOSTILE)}"


def test_sarif_ignored_findings_are_suppressed(validator: jsonschema.Draft7Validator) -> None:
    accepted = finding("DW216", Severity.LOW, CONTAINER, {"cpus": 0})
    report = replace(make_report(), ignored=((accepted, "batch job, limited by cgroup"),))
    doc = render_sarif(report)
    validator.validate(doc)
    suppressed = [r for r in doc["runs"][0]["results"] if "suppressions" in r]
    assert len(suppressed) == 1
    assert suppressed[0]["suppressions"][0]["justification"] == "batch job, limited by cgroup"
    assert len(doc["runs"][0]["results"]) == len(report.findings) + 1


def test_fingerprint_is_stable_and_discriminating() -> None:
    base = finding("DW201", Severity.CRITICAL, CONTAINER, {"a": 1, "b": [1, 2]})
    same = finding("DW201", Severity.CRITICAL, CONTAINER, {"b": [1, 2], "a": 1})
    moved = replace(base, target=replace(CONTAINER, line=40))
    other_evidence = finding("DW201", Severity.CRITICAL, CONTAINER, {"a": 2, "b": [1, 2]})
    other_target = finding("DW201", Severity.CRITICAL, replace(CONTAINER, ref="web-2"),
                           {"a": 1, "b": [1, 2]})
    other_check = replace(base, check="DW202")
    other_service = replace(base, target=replace(CONTAINER, service="db"))

    fp = sarif.fingerprint(base)
    assert len(fp) == 64 and int(fp, 16) >= 0
    assert sarif.fingerprint(same) == fp  # key order does not matter
    assert sarif.fingerprint(moved) == fp  # line is not part of the identity
    assert sarif.fingerprint(replace(base, message="other words")) == fp
    for different in (other_evidence, other_target, other_check, other_service):
        assert sarif.fingerprint(different) != fp


def test_fingerprints_in_output_are_reproducible() -> None:
    first = render_sarif(make_report())
    second = render_sarif(make_report())
    fps1 = [r["partialFingerprints"]["dockwarden/v1"] for r in first["runs"][0]["results"]]
    fps2 = [r["partialFingerprints"]["dockwarden/v1"] for r in second["runs"][0]["results"]]
    assert fps1 == fps2
    assert len(set(fps1)) == len(fps1)
    assert sarif.render(make_report(), RULES) == sarif.render(make_report(), RULES)


# --- JUnit -----------------------------------------------------------------------------


def parse_junit(report: Report) -> ET.Element:
    text = junit.render(report, RULES)
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(text.encode("utf-8"))


def test_junit_structure_and_counts() -> None:
    root = parse_junit(make_report())
    assert root.tag == "testsuites"
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {
        "compose deploy/docker-compose.yml",
        "container web-1",
        "daemon unix:///var/run/docker.sock",
        "dockwarden.errors",
    }
    web = suites["container web-1"]
    assert web.get("tests") == "4"
    assert web.get("failures") == "2"
    assert web.get("skipped") == "2"
    assert len(web.findall("testcase/failure")) == 2
    assert len(web.findall("testcase/skipped")) == 2
    compose = suites["compose deploy/docker-compose.yml"]
    assert compose.get("failures") == "2"
    errors = suites["dockwarden.errors"]
    assert errors.get("errors") == "2"
    assert len(errors.findall("testcase/error")) == 2
    assert root.get("tests") == "10"
    assert root.get("failures") == "6"
    assert root.get("skipped") == "2"
    assert root.get("errors") == "2"
    assert len(root.findall(".//testcase")) == 10


def test_junit_failure_attributes() -> None:
    root = parse_junit(make_report())
    failures = {
        c.get("name", "").split()[0]: c.find("failure") for c in root.iter("testcase")
        if c.find("failure") is not None
    }
    dw201 = failures["DW201"]
    assert dw201 is not None
    assert dw201.get("type") == "critical"
    assert dw201.get("message") == "Container runs privileged"
    assert "HostConfig.Privileged" in (dw201.text or "")
    assert "Remove --privileged" in (dw201.text or "")
    dw214 = failures["DW214"]
    assert dw214 is not None and dw214.get("type") == "high"
    case = next(c for c in root.iter("testcase") if c.get("name", "").startswith("DW214"))
    assert case.get("file") == "deploy/docker-compose.yml"
    assert case.get("line") == "12"


def test_junit_skipped_reason() -> None:
    root = parse_junit(make_report())
    reasons = [s.get("message") for s in root.iter("skipped")]
    assert "AppArmor is not available on this host" in reasons


def test_junit_hostile_strings_survive() -> None:
    text = junit.render(make_report(), RULES)
    for bad in ("\x00", "\x01", "\x07", "\x1b", "\x7f", "\x9b"):
        assert bad not in text
    root = ET.fromstring(text)
    stripped = sanitize.clean(HOSTILE)  # controls shown as visible escapes
    case = next(c for c in root.iter("testcase") if c.get("name", "").startswith("DW215"))
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("message") == f"No memory limit: {stripped}"
    assert LONG in (failure.text or "")
    skip_messages = [s.get("message") for s in root.iter("skipped")]
    assert stripped in skip_messages
    error_messages = [e.get("message") for e in root.iter("error")]
    assert f"check crashed: ValueError: {stripped}" in error_messages


def test_junit_hostile_target_names() -> None:
    target = Target(TargetKind.CONTAINER, "evil\x00<name>&\"'\ud800")
    report = Report(
        started="2026-11-28T10:00:00Z", finished="2026-11-28T10:00:01Z",
        targets=(ReportTarget(TargetKind.CONTAINER, target.ref, True),),
        findings=(finding("DW201", Severity.CRITICAL, target, {"k\x01": "v\x02"}),),
    )
    root = parse_junit(report)
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "container evil\\x00<name>&\"'\\ud800"


def test_junit_incomplete_target_is_an_error() -> None:
    root = parse_junit(replace(make_report(complete=False), errors=()))
    errors = [s for s in root.findall("testsuite") if s.get("name") == "dockwarden.errors"]
    assert len(errors) == 1
    (case,) = errors[0].findall("testcase")
    error = case.find("error")
    assert error is not None and error.get("type") == "incomplete"


def test_junit_empty_report() -> None:
    report = Report(started="2026-11-28T10:00:00Z", finished="2026-11-28T10:00:00Z",
                    targets=(), findings=())
    root = parse_junit(report)
    assert root.findall("testsuite") == []
    assert root.get("tests") == "0"
