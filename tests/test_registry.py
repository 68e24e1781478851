"""The check registry against the spec, the README, and the layering rules."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dockwarden.checks import REGISTRY, Scope, iter_catalogue, registry
from dockwarden.checks.registry import check
from dockwarden.model.common import Severity

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT.parent / "shared" / "spec" / "SPEC.md"
PKG = ROOT / "src" / "dockwarden"


def _spec_rows() -> dict[str, str]:
    if not SPEC.exists():
        pytest.skip("shared/spec/SPEC.md not beside the checkout")
    rows = {}
    for m in re.finditer(r"^\| (DW\d{3}) \| ([a-z/ ]+) \|", SPEC.read_text(), re.M):
        rows[m.group(1)] = m.group(2).strip()
    return rows


@pytest.mark.parametrize("prefix", ["DW1", "DW2", "DW4"])
def test_every_spec_check_of_the_engine_audit_is_registered(prefix: str) -> None:
    spec = {k: v for k, v in _spec_rows().items() if k.startswith(prefix)}
    assert spec
    missing = sorted(set(spec) - set(REGISTRY))
    assert not missing, missing
    for cid, sev in spec.items():
        default = sev.split("/")[-1] if "/" in sev else sev  # "critical/high": base is high
        assert REGISTRY[cid].meta.severity == Severity(default), cid


def test_metadata_complete() -> None:
    for meta in iter_catalogue():
        assert meta.title and meta.rationale and meta.remediation, meta.id
        assert meta.bad and meta.good, f"{meta.id} needs good/bad examples"
        assert re.fullmatch(r"DW\d{3}", meta.id)


def test_duplicate_id_fails_at_registration() -> None:
    with pytest.raises(RuntimeError, match="duplicate check id DW201"):
        check(id="DW201", title="x", severity=Severity.LOW, scope=Scope.CONTAINER,
              rationale="x", remediation="x")(lambda spec, ctx: [])


def test_readme_table_matches_registry() -> None:
    readme = (ROOT / "README.md").read_text()
    start, end = readme.index("<!-- checks:start -->\n"), readme.index("<!-- checks:end -->")
    table = readme[start + len("<!-- checks:start -->\n"):end]
    out = subprocess.run([sys.executable, "-m", "dockwarden", "checks", "--format", "markdown"],
                         capture_output=True, text=True, check=True).stdout
    assert table == out, "README check table is stale: regenerate with " \
        "`dockwarden checks --format markdown`"


FORBIDDEN = {
    "checks": ("docker", "httpx", "requests", "subprocess", "dockwarden.collect",
               "dockwarden.cli", "dockwarden.report"),
    "report": ("docker", "httpx", "requests", "subprocess", "dockwarden.collect",
               "dockwarden.cli", "dockwarden.checks"),
    "model": ("docker", "httpx", "requests", "subprocess", "dockwarden.collect",
              "dockwarden.checks", "dockwarden.report", "dockwarden.cli"),
}


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_imports_flow_one_way(layer: str) -> None:
    for path in (PKG / layer).rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                for bad in FORBIDDEN[layer]:
                    assert not (name == bad or name.startswith(bad + ".")), \
                        f"{path.relative_to(ROOT)} imports {name}"


def test_cis_mapping_names_only_registered_checks() -> None:
    from dockwarden.checks.registry import CIS_CONTROLS
    assert CIS_CONTROLS
    for control, ids in CIS_CONTROLS.items():
        assert re.fullmatch(r"\d+(\.\d+)*(-\d+(\.\d+)*)?", control), control
        for cid in ids:
            assert cid in REGISTRY, f"CIS {control} maps to unknown check {cid}"
    assert "CIS Docker Benchmark 1.6.0 5.5" in REGISTRY["DW201"].meta.references


# Modules a one-file `dockwarden dockerfile` run must not import (start-up, issue 5).
NOT_FOR_DOCKERFILES = (
    "dockwarden.checks.container", "dockwarden.checks.image", "dockwarden.checks.daemon",
    "dockwarden.checks.host", "dockwarden.model.engine", "dockwarden.model.image",
    "dockwarden.model.container", "dockwarden.collect.compose", "dockwarden.collect.engine",
    "rich", "yaml", "docker", "requests", "httpx", "cryptography", "bashlex", "multiprocessing",
)


def test_dockerfile_lint_imports_only_its_own_checks(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text("FROM debian:12\nRUN apt-get update && apt-get install -y curl\n"
                    "ADD app.py /app/\nUSER 1000\n")
    code = ("import json, sys\nfrom dockwarden import cli\n"
            f"rc = cli.main(['dockerfile', {str(path)!r}, '--format', 'json', '-o', "
            f"{str(tmp_path / 'out.json')!r}, '--fail-on', 'none'])\n"
            "print(json.dumps([rc, sorted(sys.modules)]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    rc, modules = json.loads(out)
    assert rc == 0
    loaded = sorted(m for m in modules for bad in NOT_FOR_DOCKERFILES
                    if m == bad or m.startswith(bad + "."))
    assert not loaded, loaded
    assert "dockwarden.checks.dockerfile" in modules
    report = json.loads((tmp_path / "out.json").read_text())
    assert {"DW503", "DW506"} <= {f["check"] for f in report["findings"]}


def test_catalogue_loads_every_builtin_module() -> None:
    code = ("import json, sys\nfrom dockwarden.checks import iter_catalogue\n"
            "ids = [m.id for m in iter_catalogue()]\n"
            "print(json.dumps([ids, sorted(sys.modules)]))\n")
    ids, modules = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True,
                                             text=True, check=True).stdout)
    assert {i[:3] for i in ids} == {"DW1", "DW2", "DW3", "DW4", "DW5", "DW7", "DW8", "DW9"}
    assert {m for names in registry.BUILTIN.values() for m in names} <= set(modules)


def test_a_check_filed_under_the_wrong_scope_fails_at_load(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "dw_misfiled_checks.py").write_text(
        "from dockwarden.checks.registry import Scope, check\n"
        "from dockwarden.model.common import Severity\n"
        "@check(id='DW299', title='x', severity=Severity.LOW, scope=Scope.CONTAINER,\n"
        "       rationale='x', remediation='x')\n"
        "def misfiled(spec, ctx):\n    return []\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "REGISTRY", dict(registry.REGISTRY))
    monkeypatch.setattr(registry, "_LOADED", set(registry._LOADED))
    monkeypatch.setitem(registry.BUILTIN, Scope.DOCKERFILE,
                        (*registry.BUILTIN[Scope.DOCKERFILE], "dw_misfiled_checks"))
    with pytest.raises(RuntimeError, match=r"DW299 .*dw_misfiled_checks"):
        registry.load(Scope.DOCKERFILE)
    sys.modules.pop("dw_misfiled_checks", None)
