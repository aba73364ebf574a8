"""SOURCE argument -> the image files to run on: a folder (searched recursively), a glob pattern, a text file with one
path per line, or one image. Sorted by path, so reruns, resumes and the Ray engine all see the same sequence.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from yolo_transfer.errors import UserError
from yolo_transfer.utils.imagefile import IMAGE_SUFFIXES, is_image
from yolo_transfer.utils.imageread import DICOM_SUFFIXES
from yolo_transfer.utils.walk import walk_files

LIST_SUFFIXES = (".txt", ".lst", ".list")


@dataclass(frozen=True)
class ImageRef:
    """One input image: `path` is absolute (the resume key and the name in every output), `rel` is relative to
    the source root (used to lay out annotated images and crops)."""

    path: str
    rel: str


def _frames(paths: list[str]) -> list[str]:
    """A multi-frame DICOM as one entry per frame (`file.dcm#k`, read by `utils.imageread`); a file whose header
    cannot be read stays one entry, so its error reaches the errors file."""
    out = []
    for p in paths:
        n = 1
        if p.lower().endswith(DICOM_SUFFIXES):
            from yolo_transfer.utils import dicom
            from yolo_transfer.utils.imageread import BadImage

            try:
                n = dicom.frames(p)
            except (UserError, BadImage):
                n = 1
        out += [p] if n == 1 else [f"{p}#{k}" for k in range(n)]
    return out


def _refs(paths: list[str], root: str) -> list[ImageRef]:
    refs = {}
    for p in _frames(paths):
        ap = os.path.abspath(p)
        refs[ap] = ImageRef(ap, os.path.relpath(ap, root).replace(os.sep, "/"))
    return [refs[k] for k in sorted(refs)]


def _common_root(paths: list[str]) -> str:
    dirs = [os.path.dirname(os.path.abspath(p)) for p in paths]
    return os.path.commonpath(dirs) if dirs else os.getcwd()


def list_images(source: str | os.PathLike) -> list[ImageRef]:
    """Expand SOURCE into sorted, de-duplicated image references; raise `UserError` when it names nothing usable."""
    text = os.fspath(source)
    path = Path(text).expanduser()
    if path.is_dir():
        found = [str(p) for p in walk_files(path) if is_image(p)]
        if not found:
            raise UserError(f"SOURCE folder {path} holds no images ({', '.join(IMAGE_SUFFIXES)}); point it at a "
                            f"folder of images")
        return _refs(found, os.path.abspath(path))
    if path.is_file() and is_image(path):
        return _refs([str(path)], os.path.dirname(os.path.abspath(path)))
    if path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
        return _from_list_file(path)
    if path.is_file():
        raise UserError(f"SOURCE {path} is neither an image ({', '.join(IMAGE_SUFFIXES)}) nor a list of paths "
                        f"({', '.join(LIST_SUFFIXES)})")
    if any(ch in text for ch in "*?["):  # a glob pattern
        found = [p for p in glob.glob(os.path.expanduser(text), recursive=True) if os.path.isfile(p) and is_image(p)]
        found = _each_folder_once(found)
        if not found:
            raise UserError(f"SOURCE pattern {text!r} matches no images; check the pattern (quote it in the shell)")
        return _refs(found, _common_root(found))
    raise UserError(f"SOURCE {text} does not exist; give a folder, a glob pattern, a .txt list of paths or an image")


def _each_folder_once(paths: list[str]) -> list[str]:
    """`**` follows a link back up the tree round and round (as deep as the OS allows): each file of a real folder
    once, by its shortest path, as a folder SOURCE is walked (`walk_files`)."""
    unique: dict[tuple[str, str], str] = {}
    for p in sorted(paths, key=len):
        unique.setdefault((os.path.realpath(os.path.dirname(p)), os.path.basename(p)), p)
    return list(unique.values())


def _from_list_file(path: Path) -> list[ImageRef]:
    # Relative entries are relative to the list file, so a list travels with its images.
    base = path.parent
    entries = []
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        p = Path(line).expanduser()
        p = p if p.is_absolute() else base / p
        if not is_image(p):
            raise UserError(f"{path}:{n}: {line!r} is not an image path ({', '.join(IMAGE_SUFFIXES)}); fix or "
                            f"remove the line")
        entries.append(str(p))
    if not entries:
        raise UserError(f"SOURCE list {path} names no images; put one image path per line")
    # Missing files listed explicitly are not dropped here: they reach the errors file with a reason.
    return _refs(entries, _common_root(entries))
