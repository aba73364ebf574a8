"""The Ultralytics YOLO layout, read and written in one place.

Reading: `load_data_yaml` resolves a `data.yaml` as Ultralytics does (an optional `path:` root; `train`/`val`/`test`
as folders, `.txt` image lists or lists of either), keeping each key's line for problems to point at;
`parse_label_text` says what is wrong with each bad line of a label file. Writing: `YoloWriter` fills a folder (the
caller's `atomic_dir`) with `images/<split>/`, `labels/<split>/`, a `data.yaml` without `path:` (it resolves
relative to itself) and `classes.json` (id -> name, and how the order was chosen).
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import yaml

from yolo_transfer.errors import UserError
from yolo_transfer.utils.imagefile import is_image  # noqa: F401 - the data readers take it from here
from yolo_transfer.utils.io import atomic_write_json, atomic_write_yaml
from yolo_transfer.utils.walk import walk_files

SPLITS = ("train", "val", "test")
SPLIT_ALIASES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
                 "test": "test", "testing": "test"}


def label_path(image: Path) -> Path:
    """Where Ultralytics looks for an image's labels: the last `/images/` becomes `/labels/`, suffix `.txt`."""
    sa, sb = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    return Path(sb.join(os.fspath(image).rsplit(sa, 1)).rsplit(".", 1)[0] + ".txt")


# ----------------------------------------------------------------------------------------------- data.yaml reading
@dataclass
class DataYaml:
    """A resolved `data.yaml`. `problems` holds (line, message) for everything wrong with the file itself."""

    yaml_path: Path
    root: Path
    names: list[str]
    splits: dict[str, list[Path]]  # split -> folders or .txt lists, absolute
    key_lines: dict[str, int] = field(default_factory=dict)
    problems: list[tuple[int, str]] = field(default_factory=list)

    def line(self, key: str) -> int:
        return self.key_lines.get(key, 1)

    def require_ok(self) -> DataYaml:
        """For commands that cannot work around a broken data.yaml (stats, split): fail with its first problem."""
        if self.problems:
            line, msg = self.problems[0]
            raise UserError(f"{self.yaml_path}:{line}: {msg}")
        return self

    def require_images(self, split: str) -> list[Path]:
        """A split's images, or a UserError pointing at its line when a source is missing."""
        images, missing = self.split_images(split)
        if missing:
            raise UserError(f"{self.yaml_path}:{self.line(split)}: {missing[0]}")
        return images

    def has_images(self, split: str) -> bool:
        """Whether a split names at least one image: a folder holding one, or a `.txt` list with a line (stops at the
        first, so checking a large set before training costs no full listing)."""
        for src in self.splits.get(split, []):
            if src.is_dir() and any(is_image(p) for p in walk_files(src)):
                return True
            if src.is_file() and src.suffix == ".txt" and src.read_text(encoding="utf-8", errors="replace").strip():
                return True
        return False

    def split_images(self, split: str) -> tuple[list[Path], list[str]]:
        """All images of a split (sorted, unique) and a message per missing source."""
        images: list[Path] = []
        missing: list[str] = []
        for src in self.splits.get(split, []):
            if src.is_dir():
                images += [p for p in walk_files(src) if is_image(p)]
            elif src.is_file() and src.suffix == ".txt":
                images += self._listed(src)
            else:
                missing.append(f"'{split}' points at {src}, which does not exist; fix the path or create the folder")
        return sorted(set(images)), missing

    def _listed(self, src: Path) -> list[Path]:
        """A `.txt` list's images: each line resolved as Ultralytics does ('./x' relative to the list's folder,
        anything else as written), and refused where it leaves the dataset root (`data.paths`)."""
        from yolo_transfer.data.paths import ALLOW_ENV, Containment, allowed_folders

        contain = Containment(self.root, allowed_folders())
        images = []
        for raw in src.read_text(encoding="utf-8", errors="replace").splitlines():
            raw = raw.strip()
            if raw:
                p = src.parent / raw[2:] if raw.startswith("./") else Path(raw)
                p = p if p.is_absolute() else src.parent / p
                if contain.check(p, str(src), raw):
                    images.append(Path(os.path.normpath(p)))
        contain.raise_if_refused("dataset", f"set {ALLOW_ENV}=FOLDER to read from a folder you trust")
        return images


def _key_lines(text: str) -> dict[str, int]:
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return {}
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {k.value: k.start_mark.line + 1 for k, _ in node.value if isinstance(k, yaml.ScalarNode)}


def _ultralytics_dataset_yaml(name: str) -> Path | None:
    """The YAML Ultralytics ships for a dataset name (`coco8`, `coco8.yaml`, `VOC.yaml`), found its own way."""
    from ultralytics.utils.checks import check_file

    for cand in ([name] if Path(name).suffix in (".yaml", ".yml") else [f"{name}.yaml", f"{name}.yml"]):
        found = check_file(cand, download=False, hard=False)
        if found:
            return Path(found)
    return None


def resolve_data_yaml(data: str | os.PathLike, download: bool = True) -> Path:
    """A local data.yaml for `data`, resolved as Ultralytics resolves `data=`: a path (file, or folder holding
    data.yaml) first; then a dataset name from Ultralytics' `cfg/datasets` (`coco8.yaml`, `VOC.yaml`, ...) whose
    images are looked for under its DATASETS_DIR (`yolo settings datasets_dir`) and, when missing, fetched by
    Ultralytics' own `check_det_dataset` download. Offline and missing: a one-line UserError saying what the name
    is, where we looked and how to supply the data."""
    spec = os.fspath(data)
    path = Path(spec).expanduser()
    if path.is_dir() and (path / "data.yaml").is_file():
        return path / "data.yaml"
    if path.is_file():
        return path
    bare = not any(sep in spec for sep in ("/", "\\")) and not spec.startswith(".")
    packaged = _ultralytics_dataset_yaml(spec) if bare and path.suffix in ("", ".yaml", ".yml") else None
    if packaged is None:
        from ultralytics.utils import ROOT

        extra = f", nor a dataset name Ultralytics ships in {ROOT / 'cfg' / 'datasets'}" if bare else ""
        raise UserError(f"data YAML not found: {spec} (no such file or folder with data.yaml{extra}); pass the "
                        f"data.yaml of a YOLO-layout dataset or make one with 'yolo-transfer data convert'")
    spec_yaml = load_data_yaml(packaged)
    missing = [src for key in ("train", "val") for src in spec_yaml.splits.get(key, []) if not src.exists()]
    if not missing:
        return packaged
    from ultralytics.utils import DATASETS_DIR, SETTINGS_FILE, is_online

    raw = yaml.safe_load(packaged.read_text(encoding="utf-8")) or {}
    source = str(raw.get("download") or "")
    url = source if source.startswith("http") and "\n" not in source.strip() else "the 'download:' script in it"
    if not source:
        reason = "it has no download"
    elif not download:
        reason = "downloads are disabled"
    elif not is_online():
        reason = "this machine is offline"
    else:
        from ultralytics.data.utils import check_det_dataset

        try:
            check_det_dataset(str(packaged), autodownload=True)
            reason = ""
        except Exception as e:  # network trouble or a broken archive: the line below says what to do
            reason = f"the download failed ({type(e).__name__})"
        if not reason and all(src.exists() for src in missing):
            return packaged
        reason = reason or f"the download did not create {missing[0]}"
    raise UserError(
        f"'{spec}' is Ultralytics' dataset {packaged.stem} ({packaged}); its images are not on this machine (looked "
        f"for {missing[0]} under DATASETS_DIR {DATASETS_DIR}) and {reason}; fetch {url} on a machine with internet and "
        f"unzip it into {DATASETS_DIR} (or set datasets_dir in {SETTINGS_FILE}), or pass the path of a local data.yaml")


def load_data_yaml(path: str | Path) -> DataYaml:
    path = Path(path)
    if path.is_dir() and (path / "data.yaml").is_file():
        path = path / "data.yaml"
    if not path.is_file():
        raise UserError(f"{path}: dataset YAML not found; pass the data.yaml of a YOLO-layout dataset")
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise UserError(f"data YAML {path}:{mark.line + 1 if mark else 1}: not readable YAML "
                        f"({getattr(e, 'problem', e)})")
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping with train/val/names keys; is this a dataset YAML?")
    lines = _key_lines(text)
    problems: list[tuple[int, str]] = []

    names_raw = data.get("names")
    names: list[str] = []
    if isinstance(names_raw, dict):
        try:
            ids = sorted(int(k) for k in names_raw)
        except (TypeError, ValueError):
            ids = []
            problems.append((lines.get("names", 1), "'names' keys must be integer class ids"))
        if ids and ids != list(range(len(ids))):
            problems.append((lines.get("names", 1), f"'names' ids must be 0..{len(ids) - 1} without gaps, got {ids}"))
        names = [str(names_raw.get(i, names_raw.get(str(i)))) for i in ids]
    elif isinstance(names_raw, list):
        names = [str(n) for n in names_raw]
    else:
        problems.append((lines.get("names", 1), "missing 'names' (the class names, a list or {id: name})"))
    if "nc" in data and names and data["nc"] != len(names):
        problems.append((lines.get("nc", 1), f"nc is {data['nc']} but 'names' has {len(names)} entries"))

    # Dataset root exactly as Ultralytics resolves it (so what `check` accepts is what trains): `path:` else the
    # YAML's folder; a relative root that does not exist from the working directory is taken under DATASETS_DIR.
    root = Path(data["path"]) if data.get("path") else path.parent
    if not root.is_absolute():
        if not root.exists():
            from ultralytics.utils import DATASETS_DIR

            root = DATASETS_DIR / root
        root = root.resolve()
    splits: dict[str, list[Path]] = {}
    for key in SPLITS:
        value = data.get(key)
        if not value:
            if key in ("train", "val"):
                problems.append((lines.get(key, 1), f"missing '{key}' (the {key} images folder or list)"))
            continue
        items = value if isinstance(value, list) else [value]
        resolved = []
        for item in items:
            p = (root / str(item)).resolve()
            if not p.exists() and str(item).startswith("../"):
                p = (root / str(item)[3:]).resolve()
            resolved.append(p)
        splits[key] = resolved
    return DataYaml(path, root, names, splits, lines, problems)


# ----------------------------------------------------------------------------------------------- label reading
@dataclass
class LabelProblem:
    line: int
    code: str
    message: str


def parse_label_text(text: str, nc: int | None) -> tuple[np.ndarray, list[LabelProblem]]:
    """Rows of (class, x, y, w, h, line) for every valid line, and a problem for every invalid one. Boxes (5 fields)
    and polygons (class + x y pairs, turned into their bounding box), like Ultralytics."""
    rows, problems = [], []
    for i, raw in enumerate(text.splitlines(), 1):
        parts = raw.split()
        if not parts:
            continue
        n = len(parts)
        if n != 5 and (n < 7 or n % 2 == 0):
            problems.append(LabelProblem(i, "field-count", f"{n} fields, expected 5 (class x_center y_center width "
                                                           f"height) or a polygon (class x1 y1 x2 y2 ...)"))
            continue
        try:
            vals = [float(p) for p in parts]
        except ValueError:
            bad = next(p for p in parts if not _is_float(p))
            problems.append(LabelProblem(i, "not-a-number", f"'{bad}' is not a number"))
            continue
        if not all(np.isfinite(vals)):
            problems.append(LabelProblem(i, "not-a-number", "NaN or infinite value"))
            continue
        cls, coords = vals[0], vals[1:]
        if not cls.is_integer() or cls < 0 or (nc is not None and cls >= nc):
            allowed = f"0..{nc - 1}" if nc else "a non-negative integer"
            problems.append(LabelProblem(i, "class-id", f"class id {parts[0]} is out of range (dataset has {nc} "
                                                        f"classes: {allowed})"))
            continue
        if min(coords) < 0 or max(coords) > 1:
            problems.append(LabelProblem(i, "coordinates", f"coordinates must be normalised to [0, 1], got "
                                                           f"{' '.join(parts[1:])}"))
            continue
        if n == 5:
            x, y, w, h = coords
        else:
            xs, ys = coords[0::2], coords[1::2]
            x, y, w, h = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2, max(xs) - min(xs), max(ys) - min(ys)
        rows.append((cls, x, y, w, h, i))
    arr = np.asarray(rows, np.float64).reshape(-1, 6)
    return arr, problems


def _is_float(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def read_labels(image: Path, nc: int | None) -> tuple[np.ndarray | None, list[LabelProblem]]:
    """Labels of one image; None when it has no label file (Ultralytics then treats it as background)."""
    lp = label_path(image)
    if not lp.is_file():
        return None, []
    return parse_label_text(lp.read_text(encoding="utf-8", errors="replace"), nc)


def duplicate_rows(rows: np.ndarray) -> list[int]:
    """Indices of rows that repeat an earlier row's class and box exactly (what Ultralytics drops)."""
    first: dict[tuple, int] = {}
    firsts = [first.setdefault(tuple(np.round(r[:5], 6)), k) for k, r in enumerate(rows)]
    return [k for k, f in enumerate(firsts) if f != k]


# ----------------------------------------------------------------------------------------------- writing
def safe_relpath(name: str) -> PurePosixPath:
    """A source file name as a path inside a split folder: subfolders and spaces kept, nothing escapes the folder."""
    parts = [p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("", ".", "..", "/")]
    if not parts:
        raise ValueError(f"empty file name {name!r}")
    return PurePosixPath(*parts)


class YoloWriter:
    """Writes images + labels into a folder being built (pass the `atomic_dir` temp folder)."""

    def __init__(self, root: Path, link: bool = False):
        self.root = Path(root)
        self.link = link
        self.images: Counter[str] = Counter()
        self.backgrounds: Counter[str] = Counter()
        self._taken: set[tuple[str, str]] = set()

    def unique_name(self, split: str, rel: PurePosixPath, prefix: str = "") -> PurePosixPath:
        """`rel`, or a prefixed/numbered variant when an image with the same label path is already in the split."""
        candidates = itertools.chain([rel], [rel.with_name(f"{prefix}_{rel.name}")] if prefix else [],
                                     (rel.with_name(f"{rel.stem}_{k}{rel.suffix}") for k in itertools.count(1)))
        return next(c for c in candidates if (split, str(c.with_suffix("")).lower()) not in self._taken)

    def add(self, split: str, source_image: Path, rel: PurePosixPath, lines: list[str]) -> None:
        key = (split, str(rel.with_suffix("")).lower())  # two images differing only by suffix would share labels
        if key in self._taken:
            raise ValueError(f"{split}/{rel}: another image already uses this label file")
        self._taken.add(key)
        dest = self.root / "images" / split / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if self.link:
            os.symlink(Path(source_image).resolve(), dest)
        else:
            shutil.copyfile(source_image, dest)
        lab = self.root / "labels" / split / rel.with_suffix(".txt")
        lab.parent.mkdir(parents=True, exist_ok=True)
        lab.write_text("".join(f"{ln}\n" for ln in lines))
        self.images[split] += 1
        self.backgrounds[split] += not lines

    def finish(self, names: list[str], order: str) -> Path:
        """Write data.yaml and classes.json; returns the data.yaml path. `order` says how the class order was chosen."""
        splits = [s for s in SPLITS if self.images[s]]
        if not splits:
            raise UserError("no images were written; check the source folder and the conversion report")
        data: dict = {s: f"images/{s}" for s in splits}
        if "val" not in data:  # Ultralytics needs a val split; say so instead of failing at train time
            data["val"] = data.get("test", "images/train")
        data = {k: data[k] for k in SPLITS if k in data}
        data.update(nc=len(names), names=dict(enumerate(names)))
        atomic_write_json(self.root / "classes.json",
                          {"order": order, "classes": [{"id": i, "name": n} for i, n in enumerate(names)]})
        return atomic_write_yaml(self.root / "data.yaml", data)


def format_box(cls: int, x1: float, y1: float, x2: float, y2: float, w: int, h: int) -> str:
    """A YOLO label line from pixel xyxy in a w x h image."""
    return f"{cls} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}"


def check_data_yaml(data: str | os.PathLike):
    """Fail early, in one line, on what Ultralytics would turn into a download attempt or a long traceback; returns
    the resolved `DataYaml` (the one reader `data check` uses too)."""
    p = resolve_data_yaml(data)
    if not p.is_file():
        raise UserError(f"data YAML not found: {p} (make one with 'yolo-transfer data convert' or pass its path)")
    spec = load_data_yaml(p).require_ok()
    for key in ("train", "val"):
        sources = spec.splits.get(key, [])
        for src in sources:
            if not src.exists():
                raise UserError(f"data YAML {p}:{spec.line(key)}: {key} path {src} does not exist")
            if src.is_file() and src.suffix == ".txt":
                spec._listed(src)  # a list naming files outside the dataset is refused before anything trains
        if sources and not spec.has_images(key):  # else Ultralytics fails after the run folder is made, exit 1
            where = ", ".join(str(s) for s in sources)
            raise UserError(f"data YAML {p}:{spec.line(key)}: {key} {where} holds no images; put the images there "
                            f"or point '{key}' at the folder that has them")
    return spec
