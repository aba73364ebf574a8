"""Keep what the checkpoint knew: retention of its classes and the new classes' mAP, per keep-classes method, at equal
epochs, against plain fine-tuning of the same preset.

New classes from --data (default: BCCD converted, three blood-cell classes COCO does not have); retention on
--retention-data (default: coco128, its val split). Rows:

- plain frozen-backbone / plain full: what users get today (the dataset's names only: the COCO classes are gone);
- full, combined head (`--keep-method plain`): the checkpoint's names kept in the table, no protection;
- exact (`--keep-classes`, on frozen-backbone): a copy of the neck and new class branches train for the new classes;
  the old outputs bit-identical by construction; `exact on head-only`: only new class branches (no copy);
  `exact on full`: a copy of every layer after the stem (new classes trained like a full fine-tune);
- distill (`--keep-classes --keep-method distill` on full, `--replay` coco128's train split): the backbone trains,
  the old classes kept by pseudo-labels and replayed source images.

Goals (issue 28): exact retention 100 % with new-class mAP50-95 >= 70 % of plain frozen-backbone's; distill retention
>= 90 % with new-class mAP50-95 >= 90 % of plain full's.

    python bench/keep_classes.py --data /work/sets/BCCD/data.yaml --retention-data /work/sets/coco128/coco128.yaml \\
        --replay /work/sets/coco128/coco128.yaml --epochs 10 --imgsz 320 --json /tmp/keep.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

from yolo_transfer.utils.env import cpu_name

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("YOLO_TRANSFER_SHARED", REPO.parent / "shared"))

ROWS = [  # (name, preset, train_preset keep options)
    ("plain frozen-backbone", "frozen-backbone", {}),
    ("plain full", "full", {}),
    ("full, combined head (plain)", "full", {"keep_classes": True, "keep_method": "plain"}),
    ("exact", "frozen-backbone", {"keep_classes": True, "keep_method": "exact"}),
    ("exact on head-only", "head-only", {"keep_classes": True, "keep_method": "exact"}),
    ("exact on full", "full", {"keep_classes": True, "keep_method": "exact"}),
    ("distill (full + replay)", "full", {"keep_classes": True, "keep_method": "distill", "replay": True}),
]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", default=str(SHARED / "weights" / "yolo26n.pt"))
    p.add_argument("--data", required=True)
    p.add_argument("--retention-data", required=True)
    p.add_argument("--replay", default=None, help="source-domain data for the distill row (default: --retention-data)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--imgsz", type=int, default=320)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--only", default=None, help="row names to run, separated by ;")
    p.add_argument("--json", default=None)
    a = p.parse_args()
    from yolo_transfer.training.api import train_preset

    work = Path(tempfile.mkdtemp(prefix="keep-bench-"))
    print(f"CPU: {cpu_name()}; {Path(a.weights).name}, new classes from {a.data}, retention on {a.retention_data}, "
          f"{a.epochs} epochs at {a.imgsz} px", flush=True)
    out = []
    try:
        for name, preset, keep in ROWS:
            if a.only and name not in a.only.split(";"):
                continue
            kw = dict(keep)
            if kw.pop("replay", False):
                kw["replay"] = a.replay or a.retention_data
            r = train_preset(a.weights, a.data, preset=preset, epochs=a.epochs, imgsz=a.imgsz, batch=a.batch,
                             device="cpu", project=work, name="-".join(name.split()[:3]).strip(","),
                             verbose=False, plots=False,
                             retention_data=a.retention_data, **kw)
            t = r.record.retention
            new_map = t.get("new_classes_map50_95")
            if new_map is None:  # a plain run: all its classes are new
                new_map = (r.record.final_val or {}).get("mAP50-95")
            row = {"row": name, "ok": r.ok, "error": r.error, "retention": t.get("retention"),
                   "source_before": t.get("before"), "source_after": t.get("after"), "new_map50_95": new_map,
                   "seconds": r.seconds, "old_outputs": (r.record.keep or {}).get("old_outputs", {}).get("ok"),
                   "params": _params(r.best) if r.best else None}
            out.append(row)
            print(f"{name:30s} retention {row['retention'] if row['retention'] is not None else '-':>6} "
                  f"(source mAP50-95 {row['source_before']} -> {row['source_after']}), new classes mAP50-95 "
                  f"{new_map}, {row['params']} parameters, {r.seconds:.0f} s"
                  f"{'' if r.ok else ' FAILED: ' + str(r.error)}", flush=True)
            shutil.rmtree(r.run_dir, ignore_errors=True)
        by = {r["row"]: r for r in out}
        ratios = {}
        if "exact" in by and "plain frozen-backbone" in by and by["plain frozen-backbone"]["new_map50_95"]:
            ratios["exact_new_vs_plain_frozen"] = round(by["exact"]["new_map50_95"] /
                                                        by["plain frozen-backbone"]["new_map50_95"], 3)
        for row, base in (("exact on head-only", "plain frozen-backbone"), ("exact on full", "plain full")):
            if row in by and base in by and by[base]["new_map50_95"] and by[row]["new_map50_95"] is not None:
                ratios[f"{row.replace(' ', '_')}_new_vs_{base.replace(' ', '_')}"] = round(
                    by[row]["new_map50_95"] / by[base]["new_map50_95"], 3)
        d = "distill (full + replay)"
        if d in by and "plain full" in by and by["plain full"]["new_map50_95"]:
            ratios["distill_new_vs_plain_full"] = round(by[d]["new_map50_95"] / by["plain full"]["new_map50_95"], 3)
        print(json.dumps(ratios))
        if a.json:
            Path(a.json).write_text(json.dumps({"cpu": cpu_name(), "args": vars(a), "rows": out, "ratios": ratios},
                                               indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _params(weights) -> int:
    from yolo_transfer.verify import load_model

    return sum(p.numel() for p in load_model(weights).parameters())


if __name__ == "__main__":
    main()
