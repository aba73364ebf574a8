"""One exception type for everything a user can fix.

Library code raises `UserError` with a single line that names the file or field and says what to do; the CLI
prints it as `Error: ...` and exits non-zero without a traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input, missing file or unsupported environment: a one-line, actionable message."""

    exit_code = 2

    def __init__(self, message: str):
        # Collapse to one line: messages sometimes embed paths or upstream errors with newlines.
        super().__init__(" ".join(str(message).split()))
