"""YOLO26's two heads on this CPU: speed per image and mAP, one-to-many + NMS (default) vs NMS-free (--end2end).

For each head the checkpoint is exported to a dynamic ONNX at --imgsz, then
- speed, whole processes (start-up included, as a user pays it): `yolo-transfer predict` and `yolo predict` on that
  same export over the same --n coco128 images, alternated for --rounds rounds after a warm-up (the machinery of
  `bench/predict_speed.py`); per-image throughput = (n - 1) / (wall of n images - wall of 1 image);
- accuracy: Ultralytics' `val` on coco128's val split (128 images) of the `.pt` run with that head (nms=None or
  nms=False) and of its export.

    python bench/head_modes.py                       # yolo26n.pt from ../shared, 640 px, 128 images, 3 rounds
    python bench/head_modes.py --imgsz 320 --rounds 2 --json /tmp/heads.json

Ultralytics states ~0.5 mAP lower for the end-to-end head and up to 43 % faster CPU inference (no NMS).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from predict_speed import SHARED, YOLO_CLI, cores, env_for_ours, link_images, run_process  # noqa: E402

from yolo_transfer import heads  # noqa: E402
from yolo_transfer.utils.env import cpu_name  # noqa: E402


def commands(model: Path, imgsz: int, conf: float) -> dict:
    ours = [sys.executable, "-m", "yolo_transfer", "predict"]
    return {
        "ours": lambda folder, out: ours + [str(model), str(folder), "--out", str(out), "--overwrite", "--conf",
                                            str(conf), "--device", "cpu"],
        "yolo": lambda folder, out: [YOLO_CLI, "predict", f"model={model}", f"source={folder}", f"imgsz={imgsz}",
                                     f"conf={conf}", "device=cpu", "save=False", "verbose=False", f"project={out}",
                                     "name=p", "exist_ok=True"],
    }


def val_map(model: Path, data: Path, imgsz: int, head: str, work: Path) -> dict:
    from ultralytics import YOLO

    yolo = YOLO(str(model), task="detect")
    kw = {"nms": heads.ultralytics_nms(head)} if model.suffix == ".pt" else {}
    m = yolo.val(data=str(data), imgsz=imgsz, batch=1, device="cpu", plots=False, verbose=False, workers=0,
                 project=str(work), name="val", exist_ok=True, **kw)
    return {"mAP50-95": round(float(m.box.map), 4), "mAP50": round(float(m.box.map50), 4)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", default=str(SHARED / "weights" / "yolo26n.pt"))
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--n", type=int, default=128, help="images in each speed run (coco128 val, repeated if more)")
    p.add_argument("--conf", type=float, default=0.25)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--json", default=None)
    a = p.parse_args()
    coco = SHARED / "datasets" / "coco128"
    print(f"CPU: {cpu_name()}, {cores()} cores; {platform.python_version()}; {Path(a.weights).name} at {a.imgsz} px, "
          f"{a.n} images, {a.rounds} rounds", flush=True)
    work = Path(tempfile.mkdtemp(prefix="heads-bench-"))
    report: dict = {"cpu": cpu_name(), "cores": cores(), "imgsz": a.imgsz, "n": a.n, "rounds": a.rounds, "heads": {}}
    try:
        from yolo_transfer.exporter.api import export

        pt = work / Path(a.weights).name
        shutil.copy(a.weights, pt)
        data = work / "coco128"  # a copy: Ultralytics writes label caches beside the labels
        shutil.copytree(coco, data, ignore=shutil.ignore_patterns("*.cache"))
        folder = link_images([coco / "images" / "val2017"], work / "images", a.n)
        one = link_images([coco / "images" / "val2017"], work / "one", 1)
        env = env_for_ours()
        exports = {h: export(pt, "onnx", imgsz=a.imgsz, end2end=h == heads.END2END, parity=False,
                             out_dir=work / h).path for h in (heads.ONE2MANY, heads.END2END)}
        runs: dict[str, dict[str, list[float]]] = {}
        cmds = {f"{who}_{h}": fn for h, path in exports.items() for who, fn in commands(path, a.imgsz, a.conf).items()}
        for name, cmd in cmds.items():  # warm-up
            run_process(cmd(one, work / f"o1-{name}"), env)
            runs[name] = {"wall": [], "start": []}
        names = list(cmds)
        for r in range(a.rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:
                runs[name]["wall"].append(run_process(cmds[name](folder, work / f"o-{name}"), env)["wall_s"])
                runs[name]["start"].append(run_process(cmds[name](one, work / f"o1-{name}"), env)["wall_s"])
            print(f"round {r + 1}: " + ", ".join(f"{k} {v['wall'][-1]:.1f}s" for k, v in runs.items()), flush=True)
        for h, path in exports.items():
            row = {"export": path.name}
            for who in ("ours", "yolo"):
                v = runs[f"{who}_{h}"]
                ips = [(a.n - 1) / max(w - s, 1e-6) for w, s in zip(v["wall"], v["start"])]
                row[who] = {"wall_s": round(float(np.median(v["wall"])), 2),
                            "ms_per_image": round(1000 / float(np.median(ips)), 1),
                            "images_per_s": round(float(np.median(ips)), 2)}
            row["ours_vs_yolo_images_per_s"] = round(row["ours"]["images_per_s"] / row["yolo"]["images_per_s"], 2)
            row["map_pt"] = val_map(pt, data / "coco128.yaml", a.imgsz, h, work)
            row["map_export"] = val_map(path, data / "coco128.yaml", a.imgsz, h, work)
            report["heads"][h] = row
        o, e = report["heads"][heads.ONE2MANY], report["heads"][heads.END2END]
        report["end2end_vs_one2many"] = {
            "ours_speed": round(e["ours"]["images_per_s"] / o["ours"]["images_per_s"], 2),
            "yolo_speed": round(e["yolo"]["images_per_s"] / o["yolo"]["images_per_s"], 2),
            "mAP50-95_points": round(100 * (e["map_pt"]["mAP50-95"] - o["map_pt"]["mAP50-95"]), 2)}
        print(f"\n{'head':10s} {'ours ms/img':>11s} {'yolo ms/img':>11s} {'ours/yolo':>9s} {'mAP50-95 .pt':>12s} "
              f"{'mAP50-95 onnx':>13s}")
        for h, row in report["heads"].items():
            print(f"{h:10s} {row['ours']['ms_per_image']:11.1f} {row['yolo']['ms_per_image']:11.1f} "
                  f"{row['ours_vs_yolo_images_per_s']:8.2f}x {row['map_pt']['mAP50-95']:12.4f} "
                  f"{row['map_export']['mAP50-95']:13.4f}")
        print(f"end2end vs one2many: {json.dumps(report['end2end_vs_one2many'])}")
        if a.json:
            Path(a.json).write_text(json.dumps(report, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
