"""contrib/ansible: the dockwarden role run with `ansible-playbook -c local` against
localhost. It installs dockwarden from this checkout into a venv (made with the system's
site packages, so only dockwarden itself is built), audits this machine's Engine with
JSON output, fetches the report to the "controller" (a temporary directory) and merges
it there with `dockwarden merge`; the merged report is a valid report of the schema."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.live

REPO = Path(__file__).resolve().parent.parent
PLAYBOOK = REPO / "contrib" / "ansible" / "playbook.yml"
ROLE = REPO / "contrib" / "ansible" / "roles" / "dockwarden"


def _playbook_bin() -> str:
    found = shutil.which("ansible-playbook") or str(Path(sys.executable).parent /
                                                     "ansible-playbook")
    if not os.path.exists(found):
        pytest.skip("ansible-core is not installed (pip install -e '.[test]')")
    return found


def test_role_files_are_yaml() -> None:
    import yaml

    for path in [PLAYBOOK, *ROLE.rglob("*.yml")]:
        assert yaml.safe_load(path.read_text()) is not None, path


def test_role_installs_runs_fetches_and_merges(tmp_path: Path) -> None:
    if not os.path.exists("/var/run/docker.sock"):
        pytest.skip("no Docker socket at /var/run/docker.sock")
    fetched = tmp_path / "reports"
    extra = {
        "ansible_python_interpreter": sys.executable,
        "dockwarden_python": sys.executable,
        "dockwarden_venv": str(tmp_path / "venv"),
        "dockwarden_venv_site_packages": True,
        "dockwarden_package": str(REPO),
        "dockwarden_remote_report": str(tmp_path / "host-report.json"),
        "dockwarden_fetch_dir": str(fetched),
        "dockwarden_become": False,
        "dockwarden_command": "daemon",
        "dockwarden_merge_command": [sys.executable, "-m", "dockwarden"],
    }
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_HOST_KEY_CHECKING": "0",
           "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
           "ANSIBLE_REMOTE_TEMP": str(tmp_path / "ansible-tmp")}
    done = subprocess.run(
        [_playbook_bin(), "-i", "localhost,", "-c", "local", str(PLAYBOOK),
         "-e", json.dumps(extra)],
        capture_output=True, text=True, timeout=900, env=env, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert (tmp_path / "venv" / "bin" / "dockwarden").exists()

    host = json.loads((fetched / "localhost.json").read_text())
    assert host["schema"] and host["targets"]
    assert host["targets"][0]["kind"] == "daemon"

    merged = json.loads((fetched / "fleet.json").read_text())
    assert merged["schema"] == host["schema"]
    assert len(merged["targets"]) == len(host["targets"])
    assert {f["check"] for f in merged["findings"]} == {f["check"] for f in host["findings"]}
    for key in ("tool", "started", "finished", "complete", "skipped", "errors", "summary"):
        assert key in merged, key
    # valid: merge, which checks each report against the schema, takes it again
    again = subprocess.run([sys.executable, "-m", "dockwarden", "merge",
                            str(fetched / "fleet.json"), "--format", "json",
                            "--fail-on", "none"],
                           capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["summary"] == merged["summary"]
