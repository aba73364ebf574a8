"""One exception type for everything a user can fix.

Library code raises `UserError` with a single line that names the file or field and says what to do; the CLI
prints it as `Error: ...` and exits non-zero without a traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno


class UserError(Exception):
    """Bad input, missing file or unsupported environment: a one-line, actionable message."""

    exit_code = 2

    def __init__(self, message: str):
        # Collapse to one line: messages sometimes embed paths or upstream errors with newlines.
        super().__init__(" ".join(str(message).split()))


# errno -> (what happened to the path, what to do, exit code): the disk, not the code, is at fault. A folder that is
# read-only or not ours is a bad choice of output (2); a disk that filled up during the run is a failed run (1).
_DISK_ERRORS = {
    errno.EROFS: ("read-only file system", "write to another folder, or make this one writable", 2),
    errno.EACCES: ("permission denied", "use a path you may write (and read), or fix its permissions", 2),
    errno.EPERM: ("operation not permitted", "use a path you may write (and read), or fix its permissions", 2),
    errno.ENOTDIR: ("a file stands where a folder should be", "give a folder path", 2),
    errno.ENOSPC: ("no space left on the device", "free some space or write elsewhere, then rerun (a resumable "
                   "command goes on where it stopped)", 1),
    errno.EDQUOT: ("disk quota exceeded", "free some space or write elsewhere, then rerun (a resumable command goes "
                   "on where it stopped)", 1),
    errno.EFBIG: ("file too large for this file system", "write to another file system, then rerun", 1),
}


def from_os_error(e: OSError) -> UserError | None:
    """A `UserError` (one line, its exit code) for an OSError that a read-only, foreign or full disk caused, naming
    the path; None for any other OSError (a bug keeps its traceback)."""
    if e.errno not in _DISK_ERRORS:
        return None
    what, todo, code = _DISK_ERRORS[e.errno]
    path = e.filename2 or e.filename  # a copy or a rename: the second name is where it was writing
    err = UserError(f"{path}: {what}; {todo}" if path else f"cannot write: {what}; {todo}")
    err.exit_code = code
    return err
