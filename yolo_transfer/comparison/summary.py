"""Trials as numbers, the winner by a written rule, and `summary.json` / `summary.csv`.

WINNER RULE (also written into summary.json as `rule`):
    Only trials on the largest training fraction that finished (verified) compete. A preset's score is the mean
    over its seeds of best.pt's val mAP50-95 (Ultralytics' final validation); its cost is the mean training seconds.
    The best-scoring preset ties with every preset whose score is within the tie margin of it: the seeds' spread
    (the larger sample standard deviation of the two presets' scores) with two or more seeds, 0.005 with one seed.
    Among tied presets the cheapest (fewest training seconds) wins; the winner trial is its best-scoring seed.
"""

from __future__ import annotations

import csv
import io
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

from yolo_transfer.comparison.plan import TrialSpec

RULE = ("best mAP50-95 of best.pt on the largest training fraction (mean over seeds); presets within the seeds' "
        "spread (larger sample std of the two; 0.005 with one seed) of the best are ties; ties go to the cheaper "
        "preset (fewer training seconds)")
ONE_SEED_MARGIN = 0.005
from yolo_transfer.options import METRIC as MAP, METRIC50 as MAP50  # noqa: E402 - the one metric key
TRAIN_LOSSES = ("train/box_loss", "train/cls_loss", "train/dfl_loss")
VAL_LOSSES = ("val/box_loss", "val/cls_loss", "val/dfl_loss")


@dataclass
class Trial:
    preset: str
    seed: int
    fraction: float
    id: str
    run_dir: str | None = None
    status: str = "pending"  # pending | complete | failed | verification failed | interrupted
    error: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)  # the final row of the trial's results.csv
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    peak_memory_mb: float = 0.0
    trainable_params: dict[str, int] = field(default_factory=dict)
    total_params: dict[str, int] = field(default_factory=dict)
    best: dict = field(default_factory=dict)  # best.pt's final validation: mAP50, mAP50-95, per_class
    train_images: int | None = None
    retention: dict = field(default_factory=dict)  # the checkpoint's classes before / after (training.retention)

    @classmethod
    def from_record(cls, spec: TrialSpec, record, error: str | None = None) -> "Trial":
        t = cls(spec.preset, spec.seed, spec.fraction, spec.id)
        if record is None:
            t.status, t.error = "failed", error
            return t
        t.run_dir, t.status = record.run_dir, record.status
        t.error = error or record.error
        t.metrics, t.history = dict(record.metrics), [dict(r) for r in record.history]
        t.seconds, t.peak_memory_mb = float(record.train_seconds or 0.0), float(record.peak_memory_mb or 0.0)
        t.trainable_params = record.trainable_params
        t.total_params = {p: int(v.get("total", 0)) for p, v in record.params.items()}
        t.best = dict(record.final_val)
        t.train_images = max((int(r["train_images"]) for r in t.history if "train_images" in r), default=None)
        t.retention = dict(record.retention or {})
        return t

    @property
    def ok(self) -> bool:
        return self.status == "complete" and self.error is None

    @property
    def score(self) -> float | None:
        """best.pt's mAP50-95 (what you would deploy); the last epoch's if Ultralytics did not validate best.pt."""
        if "mAP50-95" in self.best:
            return float(self.best["mAP50-95"])
        return float(self.metrics[MAP]) if MAP in self.metrics else None

    @property
    def best_epoch(self) -> int | None:
        rows = [r for r in self.history if MAP in r]
        return int(max(rows, key=lambda r: r[MAP])["epoch"]) if rows else None

    @property
    def epochs(self) -> int:
        return len(self.history)

    @property
    def images_per_s(self) -> float | None:
        """Training images per second over the whole run (validation excluded)."""
        rows = [r for r in self.history if r.get("train_seconds") and "train_images" in r]
        secs = sum(r["train_seconds"] for r in rows)
        return round(sum(r["train_images"] for r in rows) / secs, 2) if secs else None

    def loss_gap(self, row: dict) -> float | None:
        """val loss minus train loss (box + cls + dfl): grows when a model fits its training images only."""
        if not all(k in row for k in TRAIN_LOSSES + VAL_LOSSES):
            return None
        return sum(row[k] for k in VAL_LOSSES) - sum(row[k] for k in TRAIN_LOSSES)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(score=self.score, best_epoch=self.best_epoch, epochs=self.epochs, images_per_s=self.images_per_s,
                 final_loss_gap=self.loss_gap(self.metrics))
        return d


def by_preset(trials: list[Trial]) -> dict[str, list[Trial]]:
    """The trials grouped by preset, in their order."""
    out: dict[str, list[Trial]] = {}
    for t in trials:
        out.setdefault(t.preset, []).append(t)
    return out


def pick_winner(trials: list[Trial]) -> tuple[Trial | None, dict]:
    """The rule in this module's docstring; returns the winner and how it was reached (for summary.json)."""
    done = [t for t in trials if t.ok and t.score is not None]
    if not done:
        return None, {"reason": "no trial finished"}
    top_fraction = max(t.fraction for t in done)
    presets = by_preset([t for t in done if t.fraction == top_fraction])
    stats = {}
    for p, ts in presets.items():
        scores = [t.score for t in ts]
        stats[p] = {"score": statistics.mean(scores), "seconds": statistics.mean(t.seconds for t in ts),
                    "spread": statistics.stdev(scores) if len(scores) > 1 else None, "seeds": len(scores)}
    best = max(stats, key=lambda p: stats[p]["score"])

    def margin(p: str) -> float:
        spreads = [s for s in (stats[best]["spread"], stats[p]["spread"]) if s is not None]
        return max(spreads) if spreads else ONE_SEED_MARGIN

    tied = [p for p in stats if stats[best]["score"] - stats[p]["score"] <= margin(p)]
    chosen = min(tied, key=lambda p: (stats[p]["seconds"], -stats[p]["score"]))
    winner = max(presets[chosen], key=lambda t: t.score)
    how = {"fraction": top_fraction, "presets": {p: {k: (round(v, 5) if isinstance(v, float) else v)
                                                     for k, v in s.items()} for p, s in stats.items()},
           "best_score": best, "tied": sorted(tied), "winner_preset": chosen,
           "reason": (f"{chosen}: best mAP50-95" if tied == [chosen] else
                      f"{chosen}: tied with {', '.join(sorted(set(tied) - {chosen}))} (within margin) and cheaper")}
    return winner, how


def table(trials: list[Trial], winner: Trial | None = None) -> str:
    """The one terminal table: a row per trial."""
    head = (f"{'trial':<34} {'mAP50-95':>8} {'mAP50':>6} {'last':>6} {'epochs':>6} {'seconds':>8} {'peak MB':>8} "
            f"{'img/s':>6} {'trainable':>10}  status")
    lines = [head, "-" * len(head)]
    for t in trials:
        mark = " *" if winner is not None and t.id == winner.id else ""
        score = f"{t.score:.4f}" if t.score is not None else "-"
        m50 = f"{t.best.get('mAP50', t.metrics.get(MAP50, float('nan'))):.3f}" if (t.best or t.metrics) else "-"
        last = f"{t.metrics[MAP]:.4f}" if MAP in t.metrics else "-"
        ips = f"{t.images_per_s:.1f}" if t.images_per_s else "-"
        trainable = f"{t.trainable_params.get('total', 0) / 1e6:.2f}M" if t.trainable_params else "-"
        status = t.status if t.error is None else f"{t.status}: {t.error[:60]}"
        lines.append(f"{t.id + mark:<34} {score:>8} {m50:>6} {last:>6} {t.epochs:>6} {t.seconds:>8.1f} "
                     f"{t.peak_memory_mb:>8.0f} {ips:>6} {trainable:>10}  {status}")
    return "\n".join(lines)


CSV_FIELDS = ["id", "preset", "seed", "fraction", "status", "score", "mAP50-95_last", "mAP50_last", "best_epoch",
              "epochs", "seconds", "peak_memory_mb", "images_per_s", "trainable_backbone", "trainable_neck",
              "trainable_head", "trainable_total", "final_loss_gap", "retention", "source_map_after", "run_dir",
              "error"]


def to_csv(trials: list[Trial]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS)
    w.writeheader()
    for t in trials:
        d = t.to_dict()
        w.writerow({**{k: d.get(k) for k in CSV_FIELDS if k in d}, "mAP50-95_last": t.metrics.get(MAP),
                    "mAP50_last": t.metrics.get(MAP50), "retention": t.retention.get("retention"),
                    "source_map_after": t.retention.get("after"),
                    **{f"trainable_{p}": t.trainable_params.get(p) for p in ("backbone", "neck", "head", "total")}})
    return buf.getvalue()


def summary_dict(settings, trials: list[Trial], winner: Trial | None, how: dict, engine: str) -> dict:
    return {"format": "yolo-transfer/compare-summary@1", "settings": asdict(settings), "engine": engine,
            "rule": RULE, "winner": ({"id": winner.id, "preset": winner.preset, "seed": winner.seed,
                                      "fraction": winner.fraction, "score": winner.score, "run_dir": winner.run_dir,
                                      **how} if winner else {"id": None, **how}),
            "trials": [t.to_dict() for t in trials]}


def write_summary(out: Path, settings, trials, winner, how, engine) -> dict[str, Path]:
    from yolo_transfer.utils.io import atomic_write_json, atomic_write_text

    return {"summary.json": atomic_write_json(out / "summary.json", summary_dict(settings, trials, winner, how, engine)),
            "summary.csv": atomic_write_text(out / "summary.csv", to_csv(trials))}
