"""Foreign, hostile containers on the main Engine: what another user's machine holds.

The test session creates them at its start (tests/conftest.py) and removes them at its
end, so every live test runs beside containers it did not make, whose labels, environment
(names and values), command and bind mount hold Rich markup (`[/]`), terminal escapes,
text that was invalid UTF-8 (a lone surrogate: the Engine stores U+FFFD) and a token on
a command line. A live test that takes "the first match on the Engine" instead of the
containers it made (by its label and name) meets these first.

Container names are restricted by the Engine to [a-zA-Z0-9][a-zA-Z0-9_.-], so the hostile
text goes everywhere else. The containers carry `dockwarden.foreign=<run id>` and
override the busybox image's `dockwarden.test` label, so no test's own label selects
them; only this module removes them (its own run's, and leftovers of runs whose test
process is gone or that began more than STALE_SECONDS ago: a run in progress elsewhere
keeps its own).
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

import docker

from harness import images

FOREIGN_LABEL = "dockwarden.foreign"
PID_LABEL = "dockwarden.foreign.pid"  # the test process that made them, on this host
STALE_SECONDS = 6 * 3600
# A GitHub token shape (not a real one): the same value in ENV, the command line and an
# exec session, so the redaction of each place is exercised by any audit of the Engine.
FOREIGN_TOKEN = "ghp_" + "F0reignHostileT0kenValue" + "x" * 12
ESC_TITLE = "\x1b]0;pwned\x1b\\"
CLEAR = "\x1b[2J\x1b[H"
MARKUP = "[bold red]spoofed[/]"
SURROGATE = "bad\udc80utf8"

HOSTILE_LABELS = {
    "[/]": ESC_TITLE,
    f"x{ESC_TITLE}": MARKUP,
    "com.example.note": f"[/] {CLEAR} {SURROGATE} \u202eevil\u202c",
    "[link=https://evil.example]x[/link]": "<script>alert(1)</script>]]>",
}
HOSTILE_ENV = {
    "GITHUB_TOKEN[/]": FOREIGN_TOKEN,
    f"X{CLEAR}": MARKUP,
    f"BAD_{SURROGATE}": f"v{SURROGATE}",
    "DB_PASSWORD": f"[/]{ESC_TITLE}hunter2hunter2",
    "HARMLESS": "[/]",
}


def names(run_id: str) -> tuple[str, str]:
    """The (created, running) foreign container names of a run."""
    return f"dwforeign-{run_id}-created", f"dwforeign-{run_id}-running"


def _labels(run_id: str) -> dict[str, str]:
    return {**HOSTILE_LABELS, FOREIGN_LABEL: run_id, images.LABEL_KEY: "foreign",
            PID_LABEL: str(os.getpid())}


def create(api: docker.APIClient, run_id: str) -> list[str]:
    """Create this run's foreign containers (ids): one created only, with a hostile
    bind mount path; one running a shell whose argv and a root exec session hold the
    hostile strings and a token. Leftovers of dead runs are removed first."""
    remove_stale(api)
    image = images.busybox_image(api)
    created_name, running_name = names(run_id)
    made: list[str] = []
    command = ["/bin/sh", "-c", "sleep 3600", MARKUP, ESC_TITLE, "--token", FOREIGN_TOKEN,
               SURROGATE]
    made.append(api.create_container(
        image, name=created_name, command=command, environment=HOSTILE_ENV,
        labels=_labels(run_id),
        host_config=api.create_host_config(
            binds=[f"/tmp/[/]/dwforeign-{run_id}{CLEAR}:/mnt/[/]:ro"]),
    )["Id"])
    cid = api.create_container(
        image, name=running_name, command=command, environment=HOSTILE_ENV,
        labels=_labels(run_id), host_config=api.create_host_config(network_mode="none"),
    )["Id"]
    made.append(cid)
    api.start(cid)
    exec_id = api.exec_create(cid, ["/bin/sh", "-c", "sleep 3600", "[/]", "--token",
                                    FOREIGN_TOKEN, "mysql", "-pSup3rSecretPw"],
                             user="root")["Id"]
    api.exec_start(exec_id, detach=True)
    return made


def ours(api: docker.APIClient, run_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = api.containers(
        all=True, filters={"label": f"{FOREIGN_LABEL}={run_id}"})
    return rows


def remove(api: docker.APIClient, run_id: str) -> None:
    for row in ours(api, run_id):
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            api.remove_container(row["Id"], force=True, v=True)


def remove_stale(api: docker.APIClient) -> None:
    """Foreign containers of runs that ended without removing theirs (killed): their
    process is gone, or they are older than STALE_SECONDS."""
    now = time.time()
    for row in api.containers(all=True, filters={"label": FOREIGN_LABEL}):
        pid = (row.get("Labels") or {}).get(PID_LABEL, "")
        gone = pid.isdigit() and not os.path.exists(f"/proc/{pid}")
        if gone or now - int(row.get("Created") or now) > STALE_SECONDS:
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                api.remove_container(row["Id"], force=True, v=True)
