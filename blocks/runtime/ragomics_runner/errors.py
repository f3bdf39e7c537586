"""The typed failures the runner reports, each with its exit code (see blocks/README.md).

The codes and type names come from contract.py, which scripts/gen-runner-contract.js generates
from blocks/runner-contract.json together with the TypeScript side (common/runner-contract.ts).
"""

from __future__ import annotations

import traceback

from .contract import (
    ERROR_TYPES,
    EXIT_BLOCK_CRASHED,
    EXIT_INPUT_COUNT_MISMATCH,
    EXIT_INPUT_MISSING,
    EXIT_INVALID_BLOCK_CODE,
    EXIT_INVALID_PARAMETERS,
    EXIT_OK,
    EXIT_OUT_OF_MEMORY,
    EXIT_OUTPUT_ERROR,
)

__all__ = [
    "ERROR_TYPES",
    "EXIT_BLOCK_CRASHED",
    "EXIT_INPUT_COUNT_MISMATCH",
    "EXIT_INPUT_MISSING",
    "EXIT_INVALID_BLOCK_CODE",
    "EXIT_INVALID_PARAMETERS",
    "EXIT_OK",
    "EXIT_OUT_OF_MEMORY",
    "EXIT_OUTPUT_ERROR",
    "BlockCrashed",
    "InputCountMismatch",
    "InputMissing",
    "InvalidBlockCode",
    "InvalidParameters",
    "OutOfMemory",
    "OutputError",
    "RunnerError",
    "current_traceback",
    "short_exc",
]


class RunnerError(Exception):
    """A failure with a known exit code and a one-line message for the user."""

    def __init__(self, code: int, message: str, traceback_text: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = " ".join(str(message).split())  # exactly one line
        self.traceback_text = traceback_text

    @property
    def type(self) -> str:
        return ERROR_TYPES.get(self.code, "BlockCrashed")


class InvalidParameters(RunnerError):
    def __init__(self, message: str, traceback_text: str | None = None):
        super().__init__(EXIT_INVALID_PARAMETERS, message, traceback_text)


class InvalidBlockCode(RunnerError):
    def __init__(self, message: str, traceback_text: str | None = None):
        super().__init__(EXIT_INVALID_BLOCK_CODE, message, traceback_text)


class InputMissing(RunnerError):
    def __init__(self, message: str, traceback_text: str | None = None):
        super().__init__(EXIT_INPUT_MISSING, message, traceback_text)


class InputCountMismatch(RunnerError):
    """A one-input block on a multi-input node, or a many-input block on a node with one input."""

    def __init__(self, message: str, traceback_text: str | None = None):
        super().__init__(EXIT_INPUT_COUNT_MISMATCH, message, traceback_text)


class BlockCrashed(RunnerError):
    def __init__(self, message: str, traceback_text: str | None = None):
        super().__init__(EXIT_BLOCK_CRASHED, message, traceback_text)


class OutOfMemory(RunnerError):
    def __init__(self, message: str, traceback_text: str | None = None):
        super().__init__(EXIT_OUT_OF_MEMORY, message, traceback_text)


class OutputError(RunnerError):
    def __init__(self, message: str, traceback_text: str | None = None):
        super().__init__(EXIT_OUTPUT_ERROR, message, traceback_text)


def current_traceback() -> str:
    """The traceback of the exception being handled, as text (for error.json and stderr)."""
    return traceback.format_exc()


def short_exc(exc: BaseException) -> str:
    """`Type: message` on one line, at most 500 characters of message."""
    text = " ".join(str(exc).split())
    if len(text) > 500:
        text = text[:497] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
