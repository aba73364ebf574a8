"""`--preset auto` against plain runs of each candidate, and `recommend`'s choice, on one dataset, in one run.

    python bench/auto_vs_plain.py --data datasets/bccd/data.yaml --weights ../shared/weights/yolov8s-fall.pt \
        [--epochs 6] [--imgsz 160] [--batch 16] [--out runs/bench-auto/bccd]

Runs `recommend`, then `train(preset="auto")` over frozen-backbone / full / progressive, then a plain run of each
candidate with the same settings (equal epochs). Writes `bench.json` with, per preset, the final val mAP50-95 and
seconds, auto's choice, its mAP and cost ratio (auto seconds / the chosen preset's plain run seconds), and what the
thumb rules "always freeze the backbone" and "always fine-tune fully" would have picked. Prints one table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

CANDIDATES = ["frozen-backbone", "full", "progressive"]
MAP = "metrics/mAP50-95(B)"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--imgsz", type=int, default=160)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--images", type=int, default=64, help="images for recommend's domain distance")
    ap.add_argument("--out", default="runs/bench-auto")
    ap.add_argument("--skip-plain", default="", help="comma-separated presets whose plain run to skip")
    ap.add_argument("--extra-plain", default="", help="comma-separated presets to run plainly too (e.g. recommend's)")
    ap.add_argument("--analyse", action="store_true", help="only (re)compute the analysis of an existing bench.json")
    args = ap.parse_args()
    if args.analyse:
        return analyse(Path(args.out) / "bench.json")

    import yolo_transfer
    from yolo_transfer.utils.io import atomic_write_json

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    res: dict = {"data": args.data, "weights": args.weights, "epochs": args.epochs, "imgsz": args.imgsz}
    t = time.time()
    rec = yolo_transfer.recommend(args.weights, args.data, images=args.images, imgsz=args.imgsz, device="cpu")
    res["recommend"] = {"preset": rec.preset, "rule": rec.rule, "seconds": round(time.time() - t, 1),
                        "domain_distance": rec.facts["domain_distance"],
                        "min_images_per_class": rec.facts["min_images_per_class"]}
    print("recommend:", res["recommend"], flush=True)
    atomic_write_json(out / "bench.json", res)
    common = dict(model=args.weights, epochs=args.epochs, imgsz=args.imgsz, batch=args.batch, device="cpu",
                  workers=2, project=out, seed=0, verbose=False, plots=False)
    t = time.time()
    a = yolo_transfer.train(data=args.data, preset="auto:" + ",".join(CANDIDATES), name="auto", **common)
    res["auto"] = {"chosen": a.auto["chosen"], "map": a.metrics.get(MAP), "seconds": round(time.time() - t, 1),
                   "probes": {p["preset"]: p["curve"] for p in a.auto["probes"]},
                   "scores": {p["preset"]: p["scores"] for p in a.auto["probes"]}}
    print("auto:", res["auto"], flush=True)
    atomic_write_json(out / "bench.json", res)
    res["plain"] = {}
    skip = set(filter(None, args.skip_plain.split(",")))
    extra = [p for p in args.extra_plain.split(",") if p and p not in CANDIDATES]
    for preset in [c for c in CANDIDATES if c != a.auto["chosen"]] + [a.auto["chosen"]] + extra:
        if preset in skip:
            continue
        t = time.time()
        r = yolo_transfer.train(data=args.data, preset=preset, name=f"plain-{preset}", **common)
        res["plain"][preset] = {"map": r.metrics.get(MAP), "seconds": round(time.time() - t, 1),
                                "curve": [h.get(MAP) for h in r.history]}
        print("plain:", preset, res["plain"][preset], flush=True)
        atomic_write_json(out / "bench.json", res)
    plain = res["plain"]
    if plain:
        best = max(plain, key=lambda p: plain[p]["map"] or 0)
        chosen = a.auto["chosen"]
        res["summary"] = {
            "best": best, "recommend": rec.preset, "auto": chosen, "auto_map": res["auto"]["map"],
            "auto_gap_to_best": (plain[best]["map"] or 0) - (res["auto"]["map"] or 0),
            "auto_cost_ratio": res["auto"]["seconds"] / plain[chosen]["seconds"] if chosen in plain else None,
        }
        print("summary:", res["summary"], flush=True)
    atomic_write_json(out / "bench.json", res)
    analyse(out / "bench.json")


def analyse(path: Path) -> None:
    """Replay the halving rule on the plain runs' curves (a probe to epoch k sees the first k points of its plain
    run): which preset would each variant of the rule pick, against the one that really ended best."""
    from yolo_transfer.strategy.auto.policy import bonus_for, simulate
    from yolo_transfer.utils.io import atomic_write_json

    res = json.loads(path.read_text())
    plain = res.get("plain", {})
    if len(plain) < 2:
        return
    curves = {p: v["curve"] for p, v in plain.items()}
    order = [p for p in CANDIDATES if p in curves]
    curves = {p: curves[p] for p in order}
    d = res["recommend"]["domain_distance"]
    bonus = {p: bonus_for(d) for p in order if p != "frozen-backbone"}
    e = res["epochs"]
    res["replay"] = {
        "best": max(plain, key=lambda p: plain[p]["map"] or 0),
        "map_only": simulate(curves, e, extrapolate=0.0),
        "map_extrapolated": simulate(curves, e),
        "map_extrapolated_bonus": simulate(curves, e, bonus),
        "two_candidates_map_only": simulate({k: curves[k] for k in ("frozen-backbone", "full") if k in curves}, e,
                                            extrapolate=0.0),
        "two_candidates_rule": simulate({k: curves[k] for k in ("frozen-backbone", "full") if k in curves}, e, bonus),
    }
    print("replay:", res["replay"], flush=True)
    atomic_write_json(path, res)


if __name__ == "__main__":
    main()
