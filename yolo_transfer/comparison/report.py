"""`report.md` and a self-contained `report.html` (plots as base64 PNG, opens offline), the same sections, tables and
pictures in both: one per axis (scope, data needs, compute, accuracy, overfitting; retention with retention data).
"""

from __future__ import annotations

import base64
import html
import io
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from yolo_transfer.comparison.summary import MAP, RULE, Trial, by_preset

PARTS = ("backbone", "neck", "head")


@dataclass
class Section:
    key: str
    title: str
    text: list[str] = field(default_factory=list)
    tables: list[tuple[list[str], list[list[str]]]] = field(default_factory=list)
    plots: list[tuple[str, bytes]] = field(default_factory=list)  # (file name, PNG)


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def _f(v, fmt=".4f") -> str:
    return "-" if v is None else format(v, fmt)


def sections(trials: list[Trial]) -> list[Section]:
    """The report's sections, one per axis of the brief (scope, data needs, compute, accuracy, overfitting), then
    retention and failures where there are any."""
    from yolo_transfer.utils.plots import pyplot

    plt = pyplot()
    ok = [t for t in trials if t.ok]
    presets = by_preset(trials)
    made = (f(trials, ok, presets, plt) for f in (_scope, _data_needs, _compute, _accuracy, _overfitting, _retention,
                                                    _failed))
    return [s for s in made if s is not None]


def _scope(trials: list[Trial], ok: list[Trial], presets: dict, plt) -> Section | None:
    s = Section("scope", "Scope: how much of the model trains")
    rows, names, trained, totals = [], [], [], []
    for p, ts in presets.items():
        t = next((x for x in ts if x.trainable_params), None)
        if t is None:
            continue
        tot = t.total_params.get("total", 0) or 1
        rows.append([p] + [f"{t.trainable_params.get(k, 0):,} / {t.total_params.get(k, 0):,}" for k in PARTS]
                    + [f"{t.trainable_params.get('total', 0):,} ({100 * t.trainable_params.get('total', 0) / tot:.1f}%)"])
        names.append(p)
        trained.append([t.trainable_params.get(k, 0) / 1e6 for k in PARTS])
        totals.append([t.total_params.get(k, 0) / 1e6 for k in PARTS])
    s.tables.append((["preset", "backbone trained/total", "neck", "head", "trainable"], rows))
    if names:
        fig, ax = plt.subplots(figsize=(7, 3.2))
        colors = {"backbone": "#4c72b0", "neck": "#dd8452", "head": "#55a868"}
        left = [0.0] * len(names)
        for j, part in enumerate(PARTS):
            vals = [tr[j] for tr in trained]
            ax.barh(names, vals, left=left, color=colors[part], label=f"{part} (trained)")
            left = [a + b for a, b in zip(left, vals)]
        ax.barh(names, [sum(t) - l for t, l in zip(totals, left)], left=left, color="lightgrey", label="frozen")
        ax.set_xlabel("parameters (M)")
        ax.legend(fontsize=7, loc="lower right")
        s.plots.append(("scope.png", _png(fig)))
    return s


def _data_needs(trials: list[Trial], ok: list[Trial], presets: dict, plt) -> Section | None:
    s = Section("data", "Data needs: accuracy vs amount of training data")
    fracs = sorted({t.fraction for t in trials})
    rows = []
    for p, ts in presets.items():
        cells = []
        for f in fracs:
            sc = [t.score for t in ts if t.fraction == f and t.ok and t.score is not None]
            cells.append(_f(statistics.mean(sc)) + (f" ±{statistics.stdev(sc):.4f}" if len(sc) > 1 else "") if sc else "-")
        rows.append([p] + cells)
    s.tables.append((["preset"] + [f"mAP50-95 at {f:g}" for f in fracs], rows))
    if len(fracs) > 1:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for p, ts in presets.items():
            xs = [f for f in fracs if any(t.fraction == f and t.ok and t.score is not None for t in ts)]
            ys = [statistics.mean(t.score for t in ts if t.fraction == f and t.ok and t.score is not None) for f in xs]
            ax.plot(xs, ys, marker="o", label=p)
        ax.set_xlabel("fraction of the training set")
        ax.set_ylabel("mAP50-95 (best.pt)")
        ax.legend(fontsize=8)
        s.plots.append(("data.png", _png(fig)))
    else:
        s.text.append("One training fraction only: rerun with `--fractions 0.25,0.5,1.0` to see how each strategy "
                      "scales with data (a new fraction adds trials; finished ones are kept).")
    return s


def _compute(trials: list[Trial], ok: list[Trial], presets: dict, plt) -> Section | None:
    s = Section("compute", "Compute: time and memory")
    s.tables.append((["trial", "seconds", "epochs", "s/epoch", "images/s", "peak memory MB"],
                     [[t.id, f"{t.seconds:.1f}", str(t.epochs), _f(t.seconds / t.epochs if t.epochs else None, ".1f"),
                       _f(t.images_per_s, ".1f"), f"{t.peak_memory_mb:,.0f}"] for t in trials]))
    if ok:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.2))
        a1.barh([t.id for t in ok], [t.seconds for t in ok], color="#4c72b0")
        a1.set_xlabel("training seconds")
        a2.barh([t.id for t in ok], [t.peak_memory_mb for t in ok], color="#dd8452")
        a2.set_xlabel("peak memory (MB)")
        a2.set_yticklabels([])
        s.plots.append(("compute.png", _png(fig)))
    return s


def _accuracy(trials: list[Trial], ok: list[Trial], presets: dict, plt) -> Section | None:
    s = Section("accuracy", "Accuracy: how far each strategy adapts")
    s.tables.append((["trial", "mAP50-95 (best.pt)", "mAP50 (best.pt)", "mAP50-95 last epoch", "best epoch"],
                     [[t.id, _f(t.score), _f(t.best.get("mAP50")), _f(t.metrics.get(MAP)), _f(t.best_epoch, "d")]
                      for t in trials]))
    classes = sorted({c for t in ok for c in t.best.get("per_class", {})})
    if classes:
        s.tables.append((["class"] + [t.id for t in ok],
                         [[c] + [_f(t.best.get("per_class", {}).get(c, {}).get("mAP50-95")) for t in ok] for c in classes]))
    if ok:
        s.plots.append(_per_epoch(ok, lambda t, r: r.get(MAP), "val mAP50-95", "accuracy.png", plt))
    return s


def _overfitting(trials: list[Trial], ok: list[Trial], presets: dict, plt) -> Section | None:
    s = Section("overfitting", "Overfitting: val - train loss gap, best vs last epoch")
    s.text.append("Gap = (val box + cls + dfl loss) - (train box + cls + dfl loss) per epoch; a gap that grows while "
                  "train loss falls, or a best epoch well before the last, means the strategy is fitting its training "
                  "images rather than the task.")
    s.tables.append((["trial", "gap first epoch", "gap last epoch", "best epoch", "last epoch", "mAP50-95 best - last"],
                     [[t.id, _f(t.loss_gap(t.history[0]) if t.history else None, ".3f"), _f(t.loss_gap(t.metrics), ".3f"),
                       _f(t.best_epoch, "d"), str(t.epochs),
                       _f(t.score - t.metrics[MAP] if t.score is not None and MAP in t.metrics else None)] for t in trials]))
    if ok:
        s.plots.append(_per_epoch(ok, lambda t, r: t.loss_gap(r), "val loss - train loss", "overfitting.png", plt,
                                  zero_line=True))
    return s


def _per_epoch(ok: list[Trial], value, ylabel: str, name: str, plt, zero_line: bool = False) -> tuple[str, bytes]:
    """One line per trial of `value(trial, history row)` over its epochs (rows without a value left out)."""
    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    for t in ok:
        pts = [(r["epoch"], v) for r in t.history if (v := value(t, r)) is not None]
        if pts:
            ax.plot(*zip(*pts), marker=".", label=t.id)
    if zero_line:
        ax.axhline(0, color="grey", lw=0.5)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    return name, _png(fig)


def _retention(trials: list[Trial], ok: list[Trial], presets: dict, plt) -> Section | None:
    kept = [t for t in trials if t.retention.get("before") is not None]
    if not kept:
        return None
    s = Section("retention", "Retention: what the checkpoint knew")
    s.text.append(f"The checkpoint's own classes, measured before and after on "
                  f"{Path(kept[0].retention['data']).name} (its val split, classes matched by name): retention = "
                  "after / before. A trial whose names table dropped a class scores 0 for it; `+keep-<method>` "
                  "trials keep them (training.keep).")
    s.tables.append((["trial", "source classes", "mAP50-95 before", "after", "retention", "new classes' mAP50-95"],
                     [[t.id, str(t.retention.get("classes")), _f(t.retention.get("before")),
                       _f(t.retention.get("after")), _f(t.retention.get("retention"), ".1%"),
                       _f(t.retention.get("new_classes_map50_95"))] for t in kept]))
    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    for t in kept:
        ax.scatter(t.retention.get("retention") or 0, t.retention.get("new_classes_map50_95") or 0, label=t.id)
    ax.set_xlabel("retention of the checkpoint's classes")
    ax.set_ylabel("new classes' mAP50-95")
    ax.legend(fontsize=7)
    s.plots.append(("retention.png", _png(fig)))
    return s


def _failed(trials: list[Trial], ok: list[Trial], presets: dict, plt) -> Section | None:
    failed = [t for t in trials if not t.ok]
    if not failed:
        return None
    return Section("failed", "Trials that did not finish",
                   tables=[(["trial", "status", "error"], [[t.id, t.status, t.error or "-"] for t in failed])])


def _verdict(winner: Trial | None, how: dict) -> str:
    if winner is None:
        return f"No winner: {how.get('reason', 'no trial finished')}."
    return (f"Winner: **{winner.preset}** (trial {winner.id}, mAP50-95 {winner.score:.4f}, {winner.seconds:.0f} s) "
            f"- {how.get('reason', '')}.")


def render_markdown(title: str, table: str, winner, how, secs: list[Section], plot_dir: str = "plots") -> str:
    lines = [f"# {title}", "", _verdict(winner, how), "", f"Rule: {RULE}.", "", "```", table, "```", ""]
    for s in secs:
        lines += [f"## {s.title}", ""]
        for t in s.text:
            lines += [t, ""]
        for head, rows in s.tables:
            lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            lines += ["| " + " | ".join(r) + " |" for r in rows] + [""]
        for name, _ in s.plots:
            lines += [f"![{s.key}]({plot_dir}/{name})", ""]
    return "\n".join(lines)


def render_html(title: str, table: str, winner, how, secs: list[Section]) -> str:
    e = html.escape
    verdict = e(_verdict(winner, how)).replace("**", "")
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title><style>"
             "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}"
             "th{background:#f3f3f3}pre{background:#f7f7f7;padding:8px;font-size:12px;overflow-x:auto}"
             "img{max-width:100%}</style></head><body>",
             f"<h1>{e(title)}</h1><p><b>{verdict}</b></p><p>Rule: {e(RULE)}.</p><pre>{e(table)}</pre>"]
    for s in secs:
        parts.append(f"<h2 id='{s.key}'>{e(s.title)}</h2>")
        parts += [f"<p>{e(t)}</p>" for t in s.text]
        for head, rows in s.tables:
            parts.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>"
                         + "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows) + "</table>")
        for name, png in s.plots:
            parts.append(f"<img alt='{e(s.key)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(out: Path, title: str, table: str, trials: list[Trial], winner, how) -> dict[str, Path]:
    from yolo_transfer.utils.io import atomic_write_bytes, atomic_write_text

    secs = sections(trials)
    files = {f"plots/{name}": atomic_write_bytes(out / "plots" / name, png) for s in secs for name, png in s.plots}
    files["report.md"] = atomic_write_text(out / "report.md", render_markdown(title, table, winner, how, secs))
    files["report.html"] = atomic_write_text(out / "report.html", render_html(title, table, winner, how, secs))
    return files
