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
    EXIT_ORPHANED,
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
    "EXIT_ORPHANED",
    "EXIT_OUT_OF_MEMORY",
    "EXIT_OUTPUT_ERROR",
    "BlockCrashed",
    "InputCountMismatch",
    "InputMissing",
    "InvalidBlockCode",
    "InvalidParameters",
    "Orphaned",
    "OutOfMemory",
    "OutputError",
    "RunnerError",
    "current_traceback",
    "short_exc",
]


#: Longest one-line message a RunnerError carries (longer ones end in "...").
MAX_MESSAGE = 2000


class RunnerError(Exception):
    """A failure with a known exit code and a one-line message for the user."""

    def __init__(self, code: int, message: str, traceback_text: str | None = None):
        super().__init__(message)
        self.code = code
        one_line = " ".join(str(message).split())  # exactly one line
        # Bounded: the message travels in the RAGOMICS_ERROR line, error.json and the workflow's
        # history; a 200 KB parameter value quoted in it must not travel with it.
        self.message = one_line if len(one_line) <= MAX_MESSAGE else one_line[: MAX_MESSAGE - 3] + "..."
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


class Orphaned(RunnerError):
    """The executor's connection closed while the node ran (warm runs: stdin reached EOF)."""

    def __init__(self, message: str, traceback_text: str | None = None):
        super().__init__(EXIT_ORPHANED, message, traceback_text)


def current_traceback() -> str:
    """The traceback of the exception being handled, as text (for error.json and stderr)."""
    return traceback.format_exc()


def short_exc(exc: BaseException) -> str:
    """`Type: message` on one line, at most 500 characters of message, with the exception's notes
    (`add_note`: anndata names there the key it could not write). An exception whose str() itself
    raises is named by its type."""
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - the block's own __str__ is broken; its type still says what it was
        text = "(its message could not be read)"
    notes = getattr(exc, "__notes__", None)
    if isinstance(notes, list):
        text = " ".join([text, *(str(n) for n in notes)])
    text = " ".join(text.split())
    if len(text) > 500:
        text = text[:497] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
