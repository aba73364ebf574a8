"""Resolve `--model`: a path, or an Ultralytics name looked up locally before it is left to download.

Search order for a bare name such as `yolo11n.pt`: the path as given, each folder in `$YOLO_TRANSFER_WEIGHTS`
(`os.pathsep`-separated), then Ultralytics' own weights folder (`yolo settings weights_dir`). Only then does
Ultralytics' normal download run. Offline, that fails in one line that says where we looked.

Security: a `.pt` checkpoint is a pickle, and loading it runs code. Only load checkpoints you made or got from a
source you trust (Ultralytics' release assets, your own runs). `yolo-transfer` never loads a checkpoint just to
list or hash it.
"""

from __future__ import annotations

import os
from pathlib import Path

from yolo_transfer.errors import UserError

ENV_VAR = "YOLO_TRANSFER_WEIGHTS"
# The brief's own starting point, as in `YOLO("yolo26n.pt")`: Ultralytics' COCO-pretrained YOLO26n
DEFAULT_MODEL = "yolo26n.pt"
CHECKPOINT_SUFFIXES = {".pt", ".pth"}
ARCH_SUFFIXES = {".yaml", ".yml"}


def search_dirs() -> list[Path]:
    dirs = [Path(p).expanduser() for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p]
    try:
        from ultralytics.utils import SETTINGS

        dirs.append(Path(SETTINGS["weights_dir"]))
    except Exception:  # settings unreadable: still search the user's folders
        pass
    return dirs


def resolve_weights(spec: str | os.PathLike, download: bool = True) -> Path:
    """Return a local checkpoint file for `spec`, downloading an official Ultralytics asset if needed."""
    spec = os.fspath(spec)
    path = Path(spec).expanduser()
    if path.is_file():
        return path
    if path.suffix.lower() in ARCH_SUFFIXES:
        raise UserError(f"{spec}: that is an architecture YAML, not a checkpoint; this needs a trained .pt")
    if any(sep in spec for sep in ("/", "\\")) or spec.startswith("."):  # a path, not a name to look up
        raise UserError(f"weights file not found: {spec} (check the path)")

    tried = [Path.cwd() / spec]
    for folder in search_dirs():
        candidate = folder / spec
        tried.append(candidate)
        if candidate.is_file():
            return candidate

    from ultralytics.utils.downloads import GITHUB_ASSETS_NAMES, attempt_download_asset

    where = ", ".join(str(t.parent) for t in tried)
    if spec not in GITHUB_ASSETS_NAMES:
        raise UserError(f"weights '{spec}' not found (looked in {where}) and it is not an Ultralytics release name "
                        f"such as yolo11n.pt; pass the checkpoint's path")
    if download:
        from ultralytics.utils import is_online

        if is_online():
            try:
                return Path(attempt_download_asset(spec))
            except Exception as e:  # network trouble mid-download: the message below says what to do
                reason = f"download failed ({type(e).__name__})"
        else:
            reason = "this machine is offline"
    else:
        reason = "downloads are disabled"
    raise UserError(
        f"weights '{spec}' are not on this machine (looked in {where}) and {reason}; download {spec} from "
        f"https://github.com/ultralytics/assets/releases on a machine with internet and put it in one of those "
        f"folders, set ${ENV_VAR} to its folder, or pass the checkpoint's path"
    )


def resolve_model(spec: str | os.PathLike, download: bool = True) -> str:
    """A checkpoint (resolved as above) or an architecture YAML (a file, or a name Ultralytics ships)."""
    spec_s = os.fspath(spec)
    if Path(spec_s).suffix.lower() in ARCH_SUFFIXES:
        return spec_s  # a file, or a name such as yolo11s.yaml that Ultralytics resolves (scale from the name)
    return str(resolve_weights(spec_s, download=download))
