"""Errors with a meaning for the CLI's exit code.

`BadInput` -> exit 2: the user's input is wrong; the message names the field and the fix.
`TrainingError` -> exit 1: something failed inside a run (non-finite loss, ...).
"""


class BadInput(ValueError):
    """Invalid user input. The message is one line: what is wrong and how to fix it."""


class TrainingError(RuntimeError):
    """A run failed while training (e.g. a non-finite loss); the message names step and batch."""


class Interrupted(RuntimeError):
    """Training stopped by SIGINT/SIGTERM after writing a checkpoint."""


def require(condition: bool, message: str) -> None:
    """Raise `BadInput(message)` unless `condition` holds."""
    if not condition:
        raise BadInput(message)
