"""How far an auto probe falls behind its plain run in the epoch after each resume.

    python bench/resume_gap.py runs/strategy-eval [more evaluation folders]

Reads `bench/strategy_eval.py` output folders: per set, `<set>-compare/summary.json` (the plain runs' per-epoch
mAP50-95) and `<set>-auto/auto.json` (the probes' run folders, whose transfer.json lists the epochs they were resumed
after). Up to a resume a probe is the plain run (same seed, same schedule); the epoch after it should stay close. Prints
one line per resume and the totals: how many fell behind / got ahead by more than 0.005, and the mean difference.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

MAP = "metrics/mAP50-95(B)"


def gaps(folder: Path):
    for auto in sorted(folder.glob("*-auto/auto.json")):
        summary = auto.parent.with_name(auto.parent.name.removesuffix("-auto") + "-compare") / "summary.json"
        if not summary.is_file():
            continue
        plain = {t["preset"]: [float(h[MAP]) for h in t["history"]] for t in json.loads(summary.read_text())["trials"]}
        for p in json.loads(auto.read_text())["probes"]:
            record = Path(p.get("run_dir") or "") / "transfer.json"
            if p["preset"] not in plain or not record.is_file():
                continue
            curve, ref = p["curve"], plain[p["preset"]]
            for after in json.loads(record.read_text()).get("resumed_at_epoch") or []:
                if 0 < after < min(len(curve), len(ref)):  # epoch `after + 1` is the first of the resumed session
                    yield auto.parent.name, p["preset"], after + 1, curve[after], ref[after]


def main() -> None:
    rows = [g for d in sys.argv[1:] for g in gaps(Path(d))]
    for name, preset, epoch, probe, ref in rows:
        print(f"{name:<16} {preset:<16} epoch {epoch:>3}: probe {probe:.3f} plain {ref:.3f} ({probe - ref:+.3f})")
    d = [probe - ref for *_, probe, ref in rows]
    if d:
        print(f"{len(d)} resumes: {sum(x < -0.005 for x in d)} behind by > 0.005, {sum(x > 0.005 for x in d)} ahead, "
              f"mean {sum(d) / len(d):+.3f}")


if __name__ == "__main__":
    main()
