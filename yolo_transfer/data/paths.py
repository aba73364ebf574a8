"""Image paths named by a dataset stay inside it: an annotation from outside must not pull in any file of the user's.

A COCO `file_name`, VOC `<filename>`, LabelMe `imagePath`, CVAT `name` or a line of a data.yaml `.txt` list is
resolved against the dataset root and refused when it leaves it: `..`, an absolute path, or a symlink *file* whose
target lies outside the dataset (a symlinked *folder* inside the dataset is the user's own layout and is followed).
Folders the user names with `--allow-outside` (or `YOLO_TRANSFER_ALLOW_OUTSIDE`, `os.pathsep`-separated) may be read.
Refusals are collected per annotation file and raised once, before anything is written (docs/guides/untrusted.md).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from yolo_transfer.errors import UserError

ALLOW_ENV = "YOLO_TRANSFER_ALLOW_OUTSIDE"


class PathsOutside(UserError):
    """Image paths leave the dataset: a summary line, then one line per annotation file with its count (exit 2)."""

    def __init__(self, lines: list[str]):
        Exception.__init__(self, "\n".join(" ".join(str(line).split()) for line in lines))


def allowed_folders(allow: Iterable[str | os.PathLike] = ()) -> tuple[Path, ...]:
    """The folders `--allow-outside` names, plus the environment's."""
    env = [p for p in os.environ.get(ALLOW_ENV, "").split(os.pathsep) if p]
    return tuple(Path(os.path.abspath(os.path.expanduser(p))) for p in [*allow, *env])


def _lexical(path: str | os.PathLike) -> Path:
    return Path(os.path.normpath(os.path.abspath(path)))


def _under(path: Path, folders: Iterable[Path]) -> bool:
    return any(path.is_relative_to(f) for f in folders)


@dataclass
class Containment:
    """The root a dataset's image paths must stay in, and what it refused so far (annotation file -> paths)."""

    root: Path
    allow: tuple[Path, ...] = ()
    refused: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self):
        self.root = _lexical(self.root)
        self._real = (self.root.resolve(), *self.allow, *(a.resolve() for a in self.allow))

    def inside(self, path: str | os.PathLike) -> bool:
        """Whether `path` (already joined to its base) stays in the root or an allowed folder, symlink files
        followed to their targets."""
        p = _lexical(path)
        if not _under(p, (self.root, *self.allow)):
            return False
        if p.is_symlink():  # a link file: its target must be inside too (or in the folder the link sits in)
            return _under(p.resolve(), (*self._real, p.parent.resolve()))
        return True

    def resolve(self, base: str | os.PathLike, name: str, ref: str) -> Path | None:
        """`base / name` as a normalised path if it stays inside, else None (recorded against `ref`)."""
        p = _lexical(Path(base) / name.replace("\\", "/"))
        if self.inside(p):
            return p
        self.refused.setdefault(ref, []).append(name)
        return None

    def find(self, name: str, dirs: Iterable[Path], ref: str) -> Path | None:
        """The file `name` is in the first of `dirs` that has it inside the dataset; a name that leaves it from
        every folder where it is not found is refused (recorded against `ref`)."""
        if not name:
            return None
        cands = [_lexical(Path(d) / name.replace("\\", "/")) for d in dirs]
        inside = [c for c in cands if self.inside(c)]
        found = next((c for c in inside if c.is_file()), None)
        if found is None and len(inside) < len(cands):
            self.refused.setdefault(ref, []).append(name)
        return found

    def check(self, path: Path, ref: str, name: str | None = None) -> bool:
        if self.inside(path):
            return True
        self.refused.setdefault(ref, []).append(name or str(path))
        return False

    def raise_if_refused(self, what: str = "dataset",
                         hint: str = "pass --allow-outside FOLDER to read from a folder you trust") -> None:
        if not self.refused:
            return
        n = sum(len(v) for v in self.refused.values())
        lines = [f"{n} image path{'s' * (n != 1)} in {len(self.refused)} file{'s' * (len(self.refused) != 1)} leave "
                 f"the {what} folder {self.root}; a {what} may only name files inside its folder: fix the paths, or "
                 f"{hint}"]
        lines += [f"{ref}: {len(names)} path{'s' * (len(names) != 1)} outside (first: '{names[0]}')"
                  for ref, names in self.refused.items()]
        raise PathsOutside(lines)
