"""One exception type for everything a user can fix.

Library code raises `UserError` with a single line that names the file or field and says what to do; the CLI
prints it as `Error: ...` and exits non-zero without a traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import os

# every exit code the CLI gives, in one table (the CLI reference lists them from here)
EXIT_CODES = {
    0: "success",
    1: "the work failed (a crashed training, a failed parity gate, `data check` errors, a full disk)",
    2: "bad input (the one line says what to fix)",
    3: "a failed freeze verification (frozen tensors changed)",
    130: "interrupted (Ctrl-C); the line says how to go on",
}


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


class VerificationError(UserError):
    """Frozen tensors changed (or kept classes' outputs did): exit 3. `train()` reports it in `TrainResult.error`."""

    exit_code = 3


class TrainingFailed(UserError):
    """A run crashed inside the training loop (the traceback is in the run folder): exit 1."""

    exit_code = 1


class ParityFailed(UserError):
    """The gate ran and the exported model does not match: exit 1 (2 is for bad input)."""

    exit_code = 1


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, or a stop asked for (an auto probe at its rung), with the folder that goes on from here: exit 130.

    A `KeyboardInterrupt`, so that whatever does not know it still treats it as a pause, never as a failure."""

    exit_code = 130

    def __init__(self, message: str = "interrupted", *, run_dir: str | os.PathLike | None = None,
                 auto_dir: str | os.PathLike | None = None, epochs: int | None = None, hint: str | None = None):
        super().__init__(message)
        self.run_dir, self.auto_dir, self.epochs, self.hint = run_dir, auto_dir, epochs, hint

    @classmethod
    def at(cls, e: BaseException, **where) -> "Interrupted":
        """`e` as an `Interrupted` that knows `where` it stopped (the same object when it is one already)."""
        out = e if isinstance(e, Interrupted) else cls(str(e) or "interrupted")
        for key, value in where.items():
            if value is not None:
                setattr(out, key, value)
        return out

    @property
    def resume_folder(self) -> str | os.PathLike | None:
        """The folder `train --resume` goes on from: an auto run's own folder before a probe's."""
        return self.auto_dir or self.run_dir

    def how_to_go_on(self) -> str:
        """The line the CLI prints: how to go on from here."""
        if self.hint:
            return self.hint
        if self.resume_folder:
            return f"continue with: yolo-transfer train --resume {self.resume_folder}"
        return RERUN


RERUN = "rerun the same command to finish (predict goes on where it stopped)."
