"""One error hierarchy; the CLI alone turns these into a message, a hint and an exit code."""

from __future__ import annotations


class DockwardenError(Exception):
    """Base class. `exit_code` follows SPEC.md: 2 usage/input, 3 audit incomplete."""

    exit_code = 2

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(DockwardenError):
    exit_code = 2


class InputError(DockwardenError):
    exit_code = 2


class EngineUnreachable(DockwardenError):
    exit_code = 3
