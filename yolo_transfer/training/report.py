"""`transfer.md`: the run's transfer record for people (the same facts as `transfer.json`)."""

from __future__ import annotations


def _fmt(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"


def entered(history: list[dict]) -> dict[int, int]:
    """The epoch (0-based) each stage first trained in, from the record's per-epoch rows (`stage`)."""
    out: dict[int, int] = {}
    for i, row in enumerate(history):
        if row.get("stage") is not None:
            out.setdefault(int(row["stage"]), int(row.get("epoch", i + 1)) - 1)
    return out


def render_markdown(t: dict) -> str:
    lines = [f"# Transfer record: {t.get('run_dir', '')}", ""]
    lines += [f"- status: **{t.get('status')}**", f"- preset: `{t.get('preset')}` ({t['plan'].get('description', '')})",
              f"- BatchNorm policy: `{t.get('bn_policy')}`", f"- source: `{t['source'].get('path')}`"
              + (f" (sha256 `{t['source']['sha256'][:16]}…`)" if t["source"].get("sha256") else " (architecture only)"),
              f"- data: `{t['data'].get('yaml')}` ({len(t['data'].get('names', {}))} classes)", f"- seed: {t.get('seed')}", ""]
    if t.get("error"):
        lines[3:3] = [f"- error: {t['error']}"]
    if t.get("train_seconds") is not None:
        lines.insert(-1, f"- training: {t['train_seconds']:.0f} s, peak memory {t.get('peak_memory_mb') or 0:,.0f} MB, "
                         f"{len(t.get('history') or [])} epoch(s)")
    stages = t["plan"].get("stages", [])
    if len(stages) > 1:
        ran = entered(t.get("history") or [])
        lines += ["## Stages", "", "| stage | planned from epoch | as run: from epoch | trainable layers |",
                  "|---:|---:|---:|---:|"]
        lines += [f"| {i} | {s['epoch']}" + (f" ({s['fraction']:.0%} of the run)" if s.get("fraction") else "")
                  + f" | {ran.get(i, '-')} | {len(s['trainable'])} |" for i, s in enumerate(stages)] + [""]
        if any(s.get("fraction") for s in stages) and t.get("args", {}).get("time"):
            lines += ["Time-bounded run: a stage given as a share of the run starts at that share of the epoch count "
                      "Ultralytics refits after every epoch, so it runs later than planned at the first guess.", ""]
    p = t.get("params", {})
    if p:
        lines += ["## Parameters per part", "", "| part | total | trainable at start | trained at some stage | frozen throughout |",
                  "|---|---:|---:|---:|---:|"]
        for part in ("backbone", "neck", "head", "total"):
            r = p.get(part, {})
            lines.append(f"| {part} | {_fmt(r.get('total'))} | {_fmt(r.get('trainable_at_start'))} | "
                         f"{_fmt(r.get('trained_at_some_stage'))} | {_fmt(r.get('frozen_throughout'))} |")
        lines.append("")
    head = t.get("head")
    if head:
        lines += ["## Head", "", f"tensors: {head.get('counts')}", ""]
    cm = t.get("class_mapping")
    if cm:
        lines += ["## Classes", "", "| target | source | how |", "|---|---|---|"]
        lines += [f"| {r['target']} | {r['source'] or '-'} | {r['how']} |" for r in cm] + [""]
    groups = t.get("param_groups")
    if groups:
        lines += ["## Optimizer groups", "", "| group | kind | lr scale | params | lr at start |", "|---:|---|---:|---:|---:|"]
        lines += [f"| {g['group']} | {g['kind']} | {g['lr_scale']:.4g} | {g['params']} | {g['lr']:.3g} |" for g in groups] + [""]
    v = t.get("verification")
    if v:
        verdict = "PASSED" if v["ok"] else "FAILED"
        lines += ["## Freeze verification", "",
                  f"**{verdict}**: {v['checked_tensors']} frozen tensors compared bit for bit in {', '.join(v['checkpoints'])} "
                  f"(references: {v.get('reference')}); trainable weight tensors changed: {v.get('trainable_changed')}.", ""]
        if v["changed"]:
            lines += ["Changed:", ""] + [f"- `{c}`" for c in v["changed"][:50]] + [""]
    m = t.get("metrics")
    if m:
        keys = [k for k in m if k.startswith("metrics/")]
        lines += [f"## Final metrics ({t.get('metrics_source', 'last')} epoch)", "", "| metric | value |", "|---|---:|"]
        lines += [f"| {k} | {m[k]:.4f} |" for k in keys] + [""]
    fv = t.get("final_val")
    if fv and fv.get("per_class"):
        lines += [f"## Per class ({fv['source']}: mAP50-95 {fv['mAP50-95']:.4f}, mAP50 {fv['mAP50']:.4f})", "",
                  "| class | mAP50 | mAP50-95 |", "|---|---:|---:|"]
        lines += [f"| {c} | {v['mAP50']:.4f} | {v['mAP50-95']:.4f} |" for c, v in fv["per_class"].items()] + [""]
    vers = t.get("versions", {})
    if vers:
        lines += ["## Versions", "", ", ".join(f"{k} {v}" for k, v in vers.items() if v), ""]
    return "\n".join(lines)


def render_plot(t: dict, path) -> None:
    """`transfer.png`: per layer, when it starts training and at what lr multiple; per part, trained vs frozen."""
    import io

    from yolo_transfer.utils.io import atomic_write_bytes
    from yolo_transfer.utils.plots import pyplot

    plt = pyplot()
    layers = t["layers"]
    epochs = int(t.get("args", {}).get("epochs") or max([s["epoch"] for s in t["plan"]["stages"]] + [1]) + 1)
    colors = {"backbone": "#4c72b0", "neck": "#dd8452", "head": "#55a868"}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [2, 1]})
    for row in layers:
        start = row["trains_from_epoch"]
        if start is not None and start < epochs:
            ax1.barh(row["layer"], epochs - start, left=start, color=colors.get(row["part"], "grey"),
                     alpha=0.35 + 0.65 * min(row["lr_scale"], 1.0))
    ax1.set_xlim(0, epochs)
    ax1.set_ylim(-0.5, len(layers) - 0.5)
    ax1.invert_yaxis()
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("layer")
    ax1.set_title(f"{t['preset']}: when each layer trains (paler = lower lr multiple)")
    parts = ["backbone", "neck", "head"]
    trained = [t["params"][p]["trained_at_some_stage"] / 1e6 for p in parts]
    frozen = [t["params"][p]["frozen_throughout"] / 1e6 for p in parts]
    ax2.bar(parts, trained, color=[colors[p] for p in parts], label="trained")
    ax2.bar(parts, frozen, bottom=trained, color="lightgrey", label="frozen throughout")
    ax2.set_ylabel("parameters (M)")
    ax2.legend()
    ax2.set_title("parameters per part")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
