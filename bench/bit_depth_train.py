"""Training on a 12-bit copy of a dataset: does a frozen-backbone run reach the 8-bit run's mAP?

    .venv/bin/python bench/bit_depth_train.py --weights ../shared/weights/yolo26n.pt \
        --data ../shared/datasets/coco128 --epochs 3 --imgsz 320 --seeds 0,1

The dataset (YOLO layout, train2017 used for both train and val as coco128 ships) is copied twice: as 8-bit
grayscale PNGs and as the same pixels x16 in 16-bit PNGs (a 12-bit range). Rows: `yolo-transfer train` on each copy
(the 12-bit one through the auto window), and Ultralytics' own `YOLO.train(freeze=10)` on the 12-bit copy (its
reader keeps the high byte: what users got before). mAP50-95 of the last epoch per seed. Evidence:
docs/evidence/images.md.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import cv2
import numpy as np


def _copy(src: Path, dst: Path, scale16: bool) -> Path:
    for img in sorted((src / "images" / "train2017").glob("*.jpg")):
        g = cv2.imread(str(img), cv2.IMREAD_GRAYSCALE)
        out = dst / "images" / "train" / f"{img.stem}.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(out), g.astype(np.uint16) * 16 if scale16 else g)
        lab = src / "labels" / "train2017" / f"{img.stem}.txt"
        (dst / "labels" / "train").mkdir(parents=True, exist_ok=True)
        if lab.exists():
            (dst / "labels" / "train" / lab.name).write_text(lab.read_text())
    import yaml

    names = yaml.safe_load((src / "coco128.yaml").read_text())["names"] if (src / "coco128.yaml").exists() \
        else {i: str(i) for i in range(80)}
    y = dst / "data.yaml"
    y.write_text(yaml.safe_dump({"path": str(dst), "train": "images/train", "val": "images/train", "names": names}))
    return y


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--data", required=True, help="a YOLO-layout dataset folder with images/train2017 (coco128)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--seeds", default="0,1")
    a = ap.parse_args()
    import yolo_transfer
    from ultralytics import YOLO

    tmp = Path(tempfile.mkdtemp(prefix="bitdepth-train-"))
    y8, y12 = _copy(Path(a.data), tmp / "d8", False), _copy(Path(a.data), tmp / "d12", True)
    kw = dict(epochs=a.epochs, imgsz=a.imgsz, batch=16, device="cpu", workers=0, plots=False, verbose=False)
    rows: dict[str, list[float]] = {"8-bit, yolo-transfer": [], "12-bit, yolo-transfer (auto window)": [],
                                    "12-bit, Ultralytics YOLO.train (high byte)": []}
    for seed in (int(s) for s in a.seeds.split(",")):
        for label, y in (("8-bit, yolo-transfer", y8), ("12-bit, yolo-transfer (auto window)", y12)):
            r = yolo_transfer.train(a.weights, y, preset="frozen-backbone", seed=seed,
                                    project=tmp / "runs", name=f"s{seed}", **kw).raise_for_status()
            rows[label].append(100 * r.map50_95)
        m = YOLO(a.weights).train(data=str(y12), freeze=10, seed=seed, project=str(tmp / "ul"), name=f"s{seed}",
                                  **kw)
        rows["12-bit, Ultralytics YOLO.train (high byte)"].append(100 * float(m.box.map))
    print(f"# {Path(a.data).name} grayscale, {Path(a.weights).name}, frozen backbone, {a.epochs} epochs at "
          f"{a.imgsz}, seeds {a.seeds}")
    print("| training images | mAP50-95 per seed | mean |")
    print("|---|---|---:|")
    for label, v in rows.items():
        print(f"| {label} | {', '.join(f'{x:.2f}' for x in v)} | {statistics.mean(v):.2f} |")


if __name__ == "__main__":
    main()
