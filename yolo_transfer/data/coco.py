"""COCO JSON reader: one annotation file, or a folder with one per split (Roboflow: `train/_annotations.coco.json`
beside the images; COCO: `annotations/instances_train2017.json` + `train2017/` or `images/train2017/`).

Split of each file: from its folder name, else from its file name (train/val/valid/test), else `train`.
Class order: categories sorted by id, renumbered 0..n-1 (ids may have gaps). A category that has no annotations in
any file and is only the `supercategory` of others (Roboflow's dummy parent class) is left out.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from yolo_transfer.data.annotations import Fix, SourceBox, SourceImage, SourceSet
from yolo_transfer.data.paths import Containment
from yolo_transfer.data.yolo_layout import SPLIT_ALIASES, safe_relpath
from yolo_transfer.errors import UserError
from yolo_transfer.utils.walk import walk_files


def _load(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not valid JSON ({e}); re-export the annotations") from None
    if isinstance(data, dict) and isinstance(data.get("images"), list) and isinstance(data.get("categories"), list):
        return data
    return None


def _split_name(path: Path, root: Path) -> str:
    texts = ([path.parent.name] if path.parent != root else []) + [path.stem]
    words = (word for text in texts for word in re.split(r"[^a-z]+", text.lower()))
    return next((SPLIT_ALIASES[w] for w in words if w in SPLIT_ALIASES), "train")


def _image_dirs(json_path: Path, root: Path) -> list[Path]:
    # instances_train2017.json -> train2017; the Roboflow layout keeps images beside the JSON
    token = json_path.stem.split("_", 1)[-1]
    cands = [json_path.parent, root, root / "images", root / token, root / "images" / token,
             json_path.parent.parent / "images", json_path.parent.parent / token,
             json_path.parent.parent / "images" / token]
    base = os.path.normpath(os.path.abspath(root))  # never above the dataset (a linked folder in it is fine)
    inside = [c for c in cands if c.is_dir() and Path(os.path.normpath(os.path.abspath(c))).is_relative_to(base)]
    return list(dict.fromkeys(inside))


def _root(src: Path) -> Path:
    """The dataset folder: the one given, or a JSON's own folder (its parent where that is `annotations/`)."""
    if src.is_dir():
        return src
    return src.parent.parent if src.parent.name.lower() == "annotations" else src.parent


class CocoFormat:
    name = "coco"
    description = "COCO JSON: an annotation file, or a folder with one per split (Roboflow or COCO layout)"

    def detect(self, src: Path) -> bool:
        return src.suffix == ".json" if src.is_file() else any(walk_files(src, "*.json"))

    def _files(self, src: Path) -> list[tuple[str, Path, dict]]:
        if src.is_file():
            data = _load(src)
            if data is None:
                raise UserError(f"{src}: not a COCO annotation file (needs 'images', 'annotations', 'categories')")
            return [(_split_name(src, src.parent), src, data)]
        files = [(_split_name(p, src), p, data) for p in sorted(walk_files(src, "*.json"))
                 if (data := _load(p)) is not None]
        if not files:
            raise UserError(f"{src}: no COCO annotation JSON found (a file with 'images', 'annotations', "
                            f"'categories')")
        seen: dict[str, Path] = {}
        for split, p, _ in files:
            if split in seen:
                raise UserError(f"{p}: both this and {seen[split]} look like the '{split}' split; convert one "
                                f"annotation file at a time")
            seen[split] = p
        return files

    def read(self, src: Path, allow: tuple[Path, ...] = ()) -> SourceSet:
        root = _root(src)
        contain = Containment(root, allow)
        files = self._files(src)
        categories: dict[int, dict] = {}
        used: set[int] = set()
        for _, path, data in files:
            for cat in data["categories"]:
                cid, name = int(cat["id"]), str(cat["name"])
                if cid in categories and categories[cid]["name"] != name:
                    raise UserError(f"{path}: category id {cid} is '{name}' here but '{categories[cid]['name']}' "
                                    f"in another file; the files must share one category list")
                categories[cid] = cat
            used |= {int(a["category_id"]) for a in data.get("annotations", []) if "category_id" in a}
        parents = {str(c.get("supercategory")) for c in categories.values()}
        keep = {cid: c for cid, c in categories.items() if cid in used or str(c["name"]) not in parents}
        names = [str(keep[cid]["name"]) for cid in sorted(keep)]

        fixes: list[Fix] = []
        images: list[SourceImage] = []
        for split, path, data in files:
            rel_json = str(path.relative_to(root))
            dirs = _image_dirs(path, root)
            by_id: dict = {}
            for im in data["images"]:
                file_name = str(im.get("file_name", ""))
                found = contain.find(file_name, dirs, rel_json)
                if found is None:
                    fixes.append(Fix("missing_image_skipped", rel_json, None,
                                     f"image id {im.get('id')}: file '{file_name}' not found"))
                    continue
                declared = (int(im["width"]), int(im["height"])) if im.get("width") and im.get("height") else None
                item = SourceImage(split, found, safe_relpath(file_name), rel_json, None, declared)
                by_id[im.get("id")] = item
                images.append(item)
            for ann in data.get("annotations", []):
                ref = f"annotation id {ann.get('id')}"
                item = by_id.get(ann.get("image_id"))
                if item is None:
                    fixes.append(Fix("orphan_annotation_skipped", rel_json, None,
                                     f"{ref}: image id {ann.get('image_id')} is not in 'images' (or its file is "
                                     f"missing)"))
                    continue
                cat = categories.get(int(ann.get("category_id", -1)))
                bbox = ann.get("bbox")
                if cat is None or not isinstance(bbox, list) or len(bbox) != 4:
                    fixes.append(Fix("malformed_box_skipped", rel_json, None,
                                     f"{ref}: unknown category_id or bbox not [x, y, w, h]"))
                    continue
                x, y, w, h = (float(v) for v in bbox)
                item.boxes.append(SourceBox(str(cat["name"]), x, y, x + w, y + h, file=rel_json, ref=ref,
                                            crowd=bool(ann.get("iscrowd", 0))))
        contain.raise_if_refused()
        return SourceSet(images, names, "COCO categories sorted by category id, renumbered from 0", fixes)
