"""Exit codes and the typed failure the runner reports (see blocks/README.md)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_INVALID_PARAMETERS = 64
EXIT_INVALID_BLOCK_CODE = 65
EXIT_INPUT_MISSING = 66
EXIT_BLOCK_CRASHED = 70
EXIT_OUT_OF_MEMORY = 71
EXIT_OUTPUT_ERROR = 73

ERROR_TYPES = {
    EXIT_INVALID_PARAMETERS: "InvalidParameters",
    EXIT_INVALID_BLOCK_CODE: "InvalidBlockCode",
    EXIT_INPUT_MISSING: "InputMissing",
    EXIT_BLOCK_CRASHED: "BlockCrashed",
    EXIT_OUT_OF_MEMORY: "OutOfMemory",
    EXIT_OUTPUT_ERROR: "OutputError",
}


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


class BlockCrashed(RunnerError):
    def __init__(self, message: str, traceback_text: str | None = None):
        super().__init__(EXIT_BLOCK_CRASHED, message, traceback_text)


class OutOfMemory(RunnerError):
    def __init__(self, message: str, traceback_text: str | None = None):
        super().__init__(EXIT_OUT_OF_MEMORY, message, traceback_text)


class OutputError(RunnerError):
    def __init__(self, message: str, traceback_text: str | None = None):
        super().__init__(EXIT_OUTPUT_ERROR, message, traceback_text)
