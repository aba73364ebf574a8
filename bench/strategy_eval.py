"""The strategy evaluation: per dataset, `compare` at equal wall time, `recommend`'s choice, and `--preset auto`'s.

    python bench/strategy_eval.py --set coco128=/work/sets/coco128/coco128.yaml@640 --set bccd=path/data.yaml@640 \
        --weights ../shared/weights/yolo26n.pt --budget-minutes 8 --out runs/strategy-eval --seed 0 [--skip-auto]
    python bench/strategy_eval.py --out runs/strategy-eval --analyse     # only the table, from results.json
    python bench/strategy_eval.py --pool runs/eval-s0 runs/eval-s1           # every set/seed/budget, with totals
    python bench/strategy_eval.py --seeds runs/eval-s0 runs/eval-s1          # the same sets over seeds: ties, spread

`name=data.yaml@640` sets the image size per set (default --imgsz): pick it so the budget fits 4-10 epochs of full
fine-tuning. `--skip-auto` runs recommend and compare only (auto can be added by a later run in the same --out).

Per set, in one process: `recommend` (with the same budget, so its compute rules see it), `compare
--budget-minutes B` over --presets (plus --extra set:preset, e.g. recommend's pick where it is not among them), then
`train(preset="auto:...", time=B)`. Writes results.json after every step (a rerun skips what is done) and
results.md: per set the best preset, recommend's choice, the thumb rules "always freeze the backbone" and "always
fine-tune fully", and auto's choice with its mAP50-95 (best.pt, as compare scores trials) and cost. A choice is
"right" when its preset's mAP50-95 is within --tolerance (0.01) of the best preset's.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

FREEZE, FULL = "frozen-backbone", "full"
COLUMNS = ("head-only", FREEZE, "discriminative", "progressive", FULL)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", action="append", default=[], help="name=data.yaml (repeat)")
    ap.add_argument("--weights", default="../shared/weights/yolo26n.pt")
    ap.add_argument("--budget-minutes", type=float, default=3.0)
    ap.add_argument("--imgsz", type=int, default=192)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--presets", default="frozen-backbone,full,progressive",
                    help="compared at equal wall time (auto's default candidates; head-only never won here)")
    ap.add_argument("--extra", action="append", default=[], help="set:preset also compared on that set")
    ap.add_argument("--auto", default="", help="auto's candidates (default: what `--preset auto` tries: frozen-backbone, "
                    "full and a third, progressive unless recommend names another)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--images", type=int, default=64, help="images for recommend's domain distance")
    ap.add_argument("--tolerance", type=float, default=0.01)
    ap.add_argument("--out", default="runs/strategy-eval")
    ap.add_argument("--analyse", action="store_true")
    ap.add_argument("--pool", nargs="+", metavar="DIR", help="only one table over these evaluations' results.json")
    ap.add_argument("--seeds", nargs="+", metavar="DIR", help="one table over seeds of the same sets: ties by spread")
    ap.add_argument("--skip-auto", action="store_true", help="recommend and compare only")
    args = ap.parse_args()
    if args.pool:
        return pool(args.pool, args.tolerance)
    if args.seeds:
        return over_seeds(args.seeds)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    if not args.analyse:
        run(args, out, path)
    analyse(path, args.tolerance)


def run(args, out: Path, path: Path) -> None:
    import yolo_transfer
    from yolo_transfer.errors import UserError
    from yolo_transfer.utils.env import cpu_name
    from yolo_transfer.utils.io import atomic_write_json

    res = json.loads(path.read_text()) if path.exists() else {}
    if res and res.get("seed", 0) != args.seed:
        raise SystemExit(f"{path} holds seed {res.get('seed', 0)}: use another --out for seed {args.seed}")
    res.update(cpu=cpu_name(), weights=args.weights, budget_minutes=args.budget_minutes, imgsz=args.imgsz,
               batch=args.batch, tolerance=args.tolerance, seed=args.seed)
    res.setdefault("sets", {})
    extra = {}
    for e in args.extra:
        k, _, p = e.partition(":")
        extra.setdefault(k, []).append(p)
    common = dict(imgsz=args.imgsz, batch=args.batch, device="cpu", workers=2)
    for item in args.set:
        name, _, data = item.partition("=")
        data, _, size = data.partition("@")
        imgsz = int(size) if size else args.imgsz
        common["imgsz"] = imgsz
        s = res["sets"].setdefault(name, {"data": data, "imgsz": imgsz})
        if "recommend" not in s:
            t = time.time()
            rec = yolo_transfer.recommend(args.weights, data, budget_minutes=args.budget_minutes, images=args.images,
                                          imgsz=imgsz, device="cpu", batch=args.batch)
            s["recommend"] = {"preset": rec.preset, "rule": rec.rule, "reasons": rec.reasons, "facts": rec.facts,
                              "seconds": round(time.time() - t, 1)}
            atomic_write_json(path, res)
        print(f"[{name}] recommend: {s['recommend']['preset']} ({s['recommend']['rule']})", flush=True)
        if "compare" not in s:
            # recommend's pick is always among the compared presets, so "right" can be judged
            presets = list(dict.fromkeys(args.presets.split(",") + extra.get(name, []) + [s["recommend"]["preset"]]))
            r = yolo_transfer.compare(args.weights, data, presets=presets, budget_minutes=args.budget_minutes,
                                      seeds=[args.seed], project=out, name=f"{name}-compare", plots=False, **common)
            s["compare"] = {t.preset: {"map": t.score, "seconds": round(t.seconds, 1), "epochs": len(t.history),
                                       "status": t.status} for t in r.trials}
            atomic_write_json(path, res)
        print(f"[{name}] compare: {s['compare']}", flush=True)
        if args.skip_auto:
            continue
        if "auto" not in s:
            t = time.time()
            try:
                a = yolo_transfer.train(args.weights, data, preset="auto" + (":" + args.auto if args.auto else ""),
                                        project=out, name=f"{name}-auto", time=args.budget_minutes / 60,
                                        seed=args.seed, verbose=False,
                                        plots=False, **common)
            except UserError as e:  # e.g. a budget too short for auto's probes: recorded, the other sets go on
                s["auto"] = {"error": str(e)}
                atomic_write_json(path, res)
                print(f"[{name}] auto refused: {e}", flush=True)
                continue
            final = a.record.final_val or {}
            s["auto"] = {"chosen": a.auto.chosen, "map": final.get("mAP50-95", a.metrics.get("metrics/mAP50-95(B)")),
                         "seconds": round(time.time() - t, 1), "seconds_total": a.auto.seconds_total,
                         "deferred": a.auto.deferred_to_recommend, "rule": a.auto.recommend_rule,
                         "budget_estimate": a.auto.budget_estimate,
                         "probes": {p.preset: {"curve": p.curve, "epochs_run": p.epochs_run,
                                               "epochs_planned": p.epochs_planned, "seconds": p.seconds,
                                               "wall_seconds": p.wall_seconds, "dropped_at_rung": p.dropped_at_rung}
                                    for p in a.auto.probes},
                         "dir": str(a.auto_dir)}
            atomic_write_json(path, res)
        print(f"[{name}] auto: {s['auto'].get('chosen')} {s['auto'].get('map')}", flush=True)


def replay(facts: dict) -> str:
    """The preset today's rules give for recorded facts."""
    import dataclasses

    from yolo_transfer.strategy.facts import Facts
    from yolo_transfer.strategy.rules import decide

    names = {f.name for f in dataclasses.fields(Facts)}
    f = Facts(**{k: v for k, v in facts.items() if k in names})
    if f.domain_distance is None:
        f.domain_distance = float("nan")
    return decide(f)[0].preset


def judge(res: dict, tol: float) -> dict[str, dict]:
    """Per set with a comparison: the scores, the best preset and whether each way of choosing was right."""
    budget = res["budget_minutes"]
    out = {}
    for name, s in res["sets"].items():
        if "compare" not in s:
            continue
        maps = {p: v["map"] for p, v in s["compare"].items() if v["map"] is not None}
        if not maps:  # every trial failed: nothing to judge against
            continue
        best = max(maps, key=maps.get)
        right = lambda p: p in maps and maps[best] - maps[p] <= tol  # noqa: E731
        rec = s["recommend"]["preset"]
        now = replay(s["recommend"]["facts"])  # the rules as they are now, on the same facts (in-sample if changed)
        a = s.get("auto") if "chosen" in s.get("auto", {}) else None
        auto_ok = a is not None and a["map"] is not None and maps[best] - a["map"] <= tol
        # one plain run of the chosen preset costs its budget plus set-up and final validation: compare measured it
        run_s = s["compare"].get(a["chosen"], {}).get("seconds") if a else None
        out[name] = {
            "maps": maps, "best": best, "recommend": rec, "recommend_now": now, "auto": a,
            "measured_at": s["recommend"]["facts"].get("domain", {}).get("imgsz"),
            "verdict": {"best": best, "recommend_right": right(rec), "recommend_now_right": right(now),
                        "freeze_right": right(FREEZE), "full_right": right(FULL), "auto_within_tol": auto_ok,
                        "auto_picked_best": bool(a and a["chosen"] == best),
                        # the preset auto chose, judged by compare's plain runs like recommend's (auto's own run is a
                        # fresh run of it: at 3 min a re-run of one preset moves by up to 0.02-0.04)
                        "auto_choice_right": bool(a and right(a["chosen"])),
                        # deferred to recommend: one probe, the chosen preset run plainly
                        "auto_deferred": bool(a and len(a.get("probes", {})) == 1),
                        "auto_cost_x_budget": a["seconds_total"] / (budget * 60) if a else None,
                        "auto_cost_x_run": a["seconds_total"] / run_s if a and run_s else None}}
    return out


def analyse(path: Path, tol: float) -> None:
    from yolo_transfer.strategy.rules import DOMAIN_IMGSZ
    from yolo_transfer.utils.io import atomic_write_json, atomic_write_text

    res = json.loads(path.read_text())
    budget = res["budget_minutes"]
    rows, tally, stale = [], {"recommend": 0, FREEZE: 0, FULL: 0, "auto": 0, "sets": 0, "recommend_now": 0}, set()
    for name, j in judge(res, tol).items():
        s, v, maps, best, rec, now, a = (res["sets"][name], j["verdict"], j["maps"], j["best"], j["recommend"],
                                         j["recommend_now"], j["auto"])
        if j["measured_at"] not in (None, DOMAIN_IMGSZ):  # the distance is not in the rules' units: say so
            stale.add(j["measured_at"])
        tally["sets"] += 1
        for key, flag in (("recommend", "recommend_right"), ("recommend_now", "recommend_now_right"),
                          (FREEZE, "freeze_right"), (FULL, "full_right"), ("auto", "auto_within_tol")):
            tally[key] += v[flag]
        s["verdict"] = v
        mark = lambda ok: " ✓" if ok else " ✗"  # noqa: E731
        f = s["recommend"]["facts"]
        cost, cost_run = v["auto_cost_x_budget"], v["auto_cost_x_run"]
        rows.append(
            f"| {name} | {f['train_images']} / {f['min_images_per_class']} | {f['domain_distance']:.3f} | "
            + " | ".join(f"{maps[p]:.3f} ({s['compare'][p]['epochs']} ep)" if p in maps else "-"
                         for p in COLUMNS)
            + f" | **{best}** | {rec}{mark(v['recommend_right'])} | {now}"
            f"{'†' if j['measured_at'] not in (None, DOMAIN_IMGSZ) else ''}{mark(v['recommend_now_right'])}"
            f" | {FREEZE}{mark(v['freeze_right'])} | {FULL}{mark(v['full_right'])} | "
            + (f"{a['chosen']}{' (best)' if a['chosen'] == best else ''}{' (deferred)' if v['auto_deferred'] else ''}"
               f" {a['map']:.3f} ({a['map'] - maps[best]:+.3f}{mark(v['auto_within_tol'])}), "
               + (f"{cost_run:.2f}x a run" if cost_run else "-") + f" ({cost:.2f}x the budget) |"
               if a else "- |"))
    n = tally["sets"]
    sizes = sorted({s.get("imgsz", res["imgsz"]) for s in res["sets"].values()})
    md = [f"# Strategy evaluation: equal wall time ({budget:g} min per run), imgsz {'/'.join(map(str, sizes))}",
          "", f"CPU: {res['cpu']}; weights `{res['weights']}`; seed {res.get('seed', 0)}; mAP50-95 of best.pt on each set's val split; "
          f"a choice is right within {tol} of the best preset.", "",
          "| set | train images / rarest class | domain distance | " + " | ".join(COLUMNS) + " | best | recommend (rules when run) | recommend (rules now) | always freeze | always full | "
          "auto: choice, mAP (vs best), cost |",
          "|---" * (9 + len(COLUMNS)) + "|", *rows, "",
          f"Right: recommend {tally['recommend']}/{n} (rules now: {tally['recommend_now']}/{n}), always freeze {tally[FREEZE]}/{n}, always full "
          f"{tally[FULL]}/{n}; auto within {tol} of the best {tally['auto']}/{n}, picked the best preset "
          f"{sum(bool(v.get('verdict', {}).get('auto_picked_best')) for v in res['sets'].values())}/{n}. Cost: auto's "
          f"whole wall time (recommend, probes, the winner) over the chosen preset's plain run in compare (set-up and "
          f"final validation included) and over the budget.", ""]
    if stale:
        md += [f"† replayed on a domain distance measured at {', '.join(map(str, sorted(stale)))} px (recorded before "
               f"it was always measured at {DOMAIN_IMGSZ} px, the thresholds' size): indicative only.", ""]
    res["tally"] = tally
    atomic_write_json(path, res)
    atomic_write_text(path.with_name("results.md"), "\n".join(md))
    print("\n".join(md))


def pool(dirs: list[str], tol: float) -> None:
    """Every set/seed/budget of several evaluations in one table, with the totals: how often each way of choosing
    was right, each as it was run (the code of the day: see each results.md for today's rules replayed)."""
    rows, keys = [], ("recommend_right", "freeze_right", "full_right", "auto_within_tol", "auto_choice_right")
    tally, now_right = dict.fromkeys(keys, 0), 0
    short = {"recommend": [], "always freeze": [], "always full": [], "auto": []}  # best - chosen, per set/seed
    for d in dirs:
        res = json.loads((Path(d) / "results.json").read_text())
        for name, j in judge(res, tol).items():
            v, a = j["verdict"], j["auto"]
            now_right += v["recommend_now_right"]
            for k in keys:
                tally[k] += v.get(k, False)
            best = j["maps"][j["best"]]
            for label, p in (("recommend", j["recommend"]), ("always freeze", FREEZE), ("always full", FULL)):
                if p in j["maps"]:
                    short[label].append(best - j["maps"][p])
            if a and a["map"] is not None:
                short["auto"].append(best - a["map"])
            mode = "-" if a is None else "deferred" if v["auto_deferred"] else "probed"
            rows.append(f"| {name} | {res.get('seed', 0)} | {res['budget_minutes']:g} | {j['best']} | "
                        + " | ".join("✓" if v[k] else "✗" for k in keys[:3])
                        + (f" | {a['chosen']} ({mode}) "
                           + (f"{a['map'] - j['maps'][j['best']]:+.3f}" if a["map"] is not None else "no score")
                           + f" {'✓' if v['auto_within_tol'] else '✗'} | {'✓' if v['auto_choice_right'] else '✗'} | "
                           + (f"{v['auto_cost_x_run']:.2f}x |" if v["auto_cost_x_run"] else "- |") if a else " | - | - | - |"))
    n = len(rows)
    print("\n".join([f"| set | seed | budget (min) | best | recommend | always freeze | always full "
                     f"| auto: choice (mode), its run vs best | auto's choice in compare | auto cost vs a run |",
                     "|---" * 10 + "|", *rows, "",
                     f"Right (within {tol} of the best), of {n}: " + ", ".join(
                         f"{label} {tally[k]}" for label, k in zip(("recommend", "always freeze", "always full",
                                                                    "auto's own run", "auto's choice (compare's runs)"),
                                                                   keys)),
                     f"recommend with today's rules replayed on the recorded facts (in-sample where a rule changed "
                     f"after the run): {now_right} of {n}",
                     "Mean shortfall from the best preset (mAP50-95; auto's is a fresh run, so it can be negative): "
                     + ", ".join(f"{k} {sum(v) / len(v):.4f} (worst {max(v):.3f})" for k, v in short.items() if v)]))


def over_seeds(dirs: list[str]) -> None:
    """The same sets and budget run with several seeds: per set each preset's mean and spread (max - min over seeds),
    the presets tied with the best (mean within the larger of the two spreads: not distinguishable at this many
    seeds), and whether recommend (rules now), always freeze, always full and auto's choice land among them."""
    runs = [json.loads((Path(d) / "results.json").read_text()) for d in dirs]
    names = sorted(set.intersection(*(set(r["sets"]) for r in runs)))
    rows, tally = [], {"recommend": 0, FREEZE: 0, FULL: 0, "auto": 0, "auto_run": 0, "sets": 0}
    for name in names:
        maps: dict[str, list[float]] = {}
        for r in runs:
            for p, v in r["sets"][name].get("compare", {}).items():
                if v["map"] is not None:
                    maps.setdefault(p, []).append(v["map"])
        maps = {p: v for p, v in maps.items() if len(v) == len(runs)}
        if not maps:
            continue
        mean = {p: sum(v) / len(v) for p, v in maps.items()}
        spread = {p: max(v) - min(v) for p, v in maps.items()}
        best = max(mean, key=mean.get)
        tied = {p for p in mean if mean[best] - mean[p] <= max(spread[best], spread[p])}
        rec_now = replay(runs[0]["sets"][name]["recommend"]["facts"])
        autos = [r["sets"][name].get("auto") or {} for r in runs]
        chosen = [a.get("chosen") for a in autos if a.get("chosen")]
        auto_maps = [a["map"] for a in autos if a.get("map") is not None]
        auto_ok = bool(chosen) and all(c in tied for c in chosen)
        auto_run_ok = bool(auto_maps) and sum(auto_maps) / len(auto_maps) >= mean[best] - max(spread.values())
        tally["sets"] += 1
        tally["recommend"] += rec_now in tied
        tally[FREEZE] += FREEZE in tied
        tally[FULL] += FULL in tied
        tally["auto"] += auto_ok
        tally["auto_run"] += auto_run_ok
        f = runs[0]["sets"][name]["recommend"]["facts"]
        rows.append(f"| {name} | {f['min_images_per_class']} | {f['domain_distance']:.3f} | "
                    + " | ".join(f"{mean[p]:.3f} ± {spread[p] / 2:.3f}" if p in mean else "-" for p in COLUMNS)
                    + f" | {best} | {', '.join(sorted(tied))} | {rec_now}{' ✓' if rec_now in tied else ' ✗'} | "
                    + (f"{'/'.join(chosen)}{' ✓' if auto_ok else ' ✗'} (run {sum(auto_maps) / len(auto_maps):.3f}"
                       f"{' ✓' if auto_run_ok else ' ✗'})" if chosen else "-") + " |")
    n = tally["sets"]
    print("\n".join([f"| set | rarest class (images) | domain distance | " + " | ".join(COLUMNS)
                     + " | best (mean) | tied with the best | recommend (rules now) | auto: choices, mean run |",
                     "|---" * (7 + len(COLUMNS)) + "|", *rows, "",
                     f"Among the tied-with-the-best presets, of {n} sets: recommend {tally['recommend']}, always freeze "
                     f"{tally[FREEZE]}, always full {tally[FULL]}; auto's choices {tally['auto']}, auto's own runs "
                     f"within the spread of the best {tally['auto_run']}. Means over {len(runs)} seeds; ± is half the "
                     f"spread (max - min)."]))


if __name__ == "__main__":
    main()
