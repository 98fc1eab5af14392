"""The one exception type that reaches users as a single line.

Anything a user can get wrong (a path, a file's content, an option) raises :class:`InputError`
with a message that names the file and the problem; the CLI prints it on one line and exits 2.
"""

from __future__ import annotations

__all__ = ["InputError", "MissingBackendError"]


class InputError(ValueError):
    """Bad user input: a missing or malformed file, or an inconsistent option."""


class MissingBackendError(InputError):
    """An optional package that the requested feature needs is not installed."""

    def __init__(self, package: str, extra: str | None = None):
        hint = f'pip install "kbench[{extra}]"' if extra else f"pip install {package}"
        super().__init__(f"{package} is not installed: {hint}")
        self.package = package
