"""What an auto run did, for people: `auto.md` and `auto.png` beside `auto.json`, and the terminal's closing lines."""

from __future__ import annotations

import os
from pathlib import Path

from yolo_transfer.strategy.auto.state import AutoState


def summary_lines(s: AutoState, auto_dir: str | os.PathLike) -> list[str]:
    """What `--preset auto` did, for the end of the terminal output (its rung lines come as they happen)."""
    rec = s.recommendation or {}
    if s.deferred_to_recommend:
        how = (f"auto: no probes; recommend's answer came from a data rule that trains the backbone, where short probes "
               f"favour the frozen backbone, so it trained {s.chosen} (auto:a,b,c probes anyway)")
    else:
        dropped = [f"{p.preset} at rung {p.dropped_at_rung}" for p in s.probes if p.dropped_at_rung]
        how = (f"auto: probed {', '.join(s.candidates)}"
               + (f" (recommend: {rec['preset']})" if rec.get("preset") else "")
               + (f"; dropped {', '.join(dropped)}" if dropped else "") + f"; chose {s.chosen}")
    return [how, f"auto: {s.seconds_total:.0f} s in all, {s.cost_ratio}x the chosen run; report "
                 f"{Path(auto_dir) / 'auto.md'}"]


def write_report(s: AutoState, auto_dir: str | os.PathLike) -> Path:
    """`auto.md` and `auto.png` (the probes' curves and the rungs); returns the markdown's path."""
    from yolo_transfer.utils.io import atomic_write_bytes, atomic_write_text

    auto_dir = Path(auto_dir)
    atomic_write_bytes(auto_dir / "auto.png", render_plot(s))
    return atomic_write_text(auto_dir / "auto.md", render_markdown(s))


def render_plot(s: AutoState) -> bytes:
    import io

    from yolo_transfer.utils.plots import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=110)
    for p in s.probes:
        if p.curve:
            style = "-" if p.preset == s.chosen else "--"
            ax.plot(range(1, len(p.curve) + 1), p.curve, style, marker="o", ms=3, label=p.preset)
    for r in s.rungs[:-1]:
        ax.axvline(r["epoch"], color="grey", lw=0.8, ls=":")
    ax.set_xlabel("epoch")
    ax.set_ylabel("val mAP50-95")
    ax.set_title(f"auto: probes and the chosen run ({s.chosen})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def render_markdown(s: AutoState) -> str:
    end = s.rungs[-1]["epoch"]
    if s.budget_minutes:
        plan = (f"- {len(s.candidates)} candidates, {s.budget_minutes:g} min per run (Ultralytics' time mode, "
                f"epochs refitted per candidate), rungs at "
                f"{', '.join(format(r['epoch'] / end, '.0%') for r in s.rungs[:-1])} of each "
                f"candidate's epochs ({s.epoch_cost / end:.2f}x one run's budget)")
    else:
        plan = (f"- {len(s.candidates)} candidates, {s.epochs} epochs, rungs at "
                f"{', '.join(str(r['epoch']) for r in s.rungs)} ({s.epoch_cost} epochs in all, "
                f"{s.epoch_cost / s.epochs:.2f}x one run)")
    if s.deferred_to_recommend:
        rec = s.recommendation or {}
        plan = (f"- no probes: {(rec.get('reasons') or ['recommend'])[0]}; where a data rule says to train the backbone, "
                f"short probes favour the frozen backbone, so `auto` trains recommend's preset as a plain run "
                f"(`auto:a,b,c` probes anyway)")
    if s.scheduler:
        a = s.scheduler
        plan = (f"- {len(s.candidates)} candidates in parallel on Ray Tune ({a['resources_per_probe']} each), "
                f"stopped by {a['name']} (grace {a['grace_period']} epochs, reduction {a['reduction_factor']}, "
                f"{a['max_t']} epochs); {s.epoch_cost} epochs ran in all ({s.epoch_cost / s.epochs:.2f}x "
                f"one run)")
    lines = [f"# Automatic strategy choice: `{s.chosen}`", "", plan,
             f"- time: {s.seconds_total:.0f} s in all, the chosen run alone {s.seconds_chosen_run or 0:.0f} s "
             f"(ratio {s.cost_ratio})",
             ("- domain distance " + (f"{s.domain_distance:.3f}" if s.domain_distance is not None else
                                      "not measured (recommend runs for a .pt checkpoint)")) + (
                 f"; recommend said `{s.recommendation['preset']}`" if s.recommendation else ""),
             f"- rule: {s.rule}", "",
             "| preset | epochs run | last mAP50-95 | scores per rung | seconds (set-ups included) | outcome |",
             "|---|---|---|---|---|---|"]
    for p in s.probes:
        outcome = "chosen" if p.preset == s.chosen else (
            f"dropped at rung {p.dropped_at_rung}" if p.dropped_at_rung else (p.error or ""))
        scores = ", ".join(f"{x['score']:.4f}" for x in p.scores)
        last = f"{p.curve[-1]:.4f}" if p.curve else "-"
        lines.append(f"| `{p.preset}` | {p.epochs_run} | {last} | {scores} | {p.wall_seconds or p.seconds:.0f} "
                     f"| {outcome} |")
    lines += ["", "![probe curves](auto.png)", "", f"Chosen run: `{s.chosen_run}`", ""]
    return "\n".join(lines)
