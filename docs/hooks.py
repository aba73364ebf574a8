"""MkDocs hook: tables generated from the code, so the docs cannot drift from it.

A page asks for a table with a marker line of its own, e.g. `<!-- table: presets -->`; the marker is replaced by the
Markdown table built from the live registry (`yolo_transfer.presets.REGISTRY`, `.heads`, `.runtimes`). An unknown
table name fails the build. These modules import no torch, so the build stays fast.
"""

from __future__ import annotations

import re

MARKER = re.compile(r"^<!-- table: ([a-z-]+) -->$", re.M)


def _presets() -> str:
    from yolo_transfer.presets import REGISTRY

    rows = ["| preset | spec | what it does |", "|---|---|---|"]
    for name, info in REGISTRY.items():
        summary = info.summary.replace("*", "×")  # lr0*ratio: a multiplication, not Markdown emphasis
        rows.append(f"| `{name}` | `{info.spec}` | {summary} |")
    rows.append("| `auto` | `auto`, `auto:a,b,c` | not a preset: successive halving over candidates, "
                "see [recommend and auto](../guides/recommend-auto.md) |")
    return "\n".join(rows)


def _heads() -> str:
    from yolo_transfer import heads

    flags = {heads.ONE2MANY: "default (no flag)", heads.END2END: "`--end2end`", heads.NMS: "`--nms`"}
    rows = ["| head mode | what runs | Ultralytics `nms=` | export / predict flag |", "|---|---|---|---|"]
    for mode in heads.HEADS:
        rows.append(f"| `{mode}` | {heads.TITLES[mode]} | `{heads.ultralytics_nms(mode)}` | {flags[mode]} |")
    return "\n".join(rows)


def _runtimes() -> str:
    from yolo_transfer.runtimes import RUNTIMES

    rows = ["| `--format` / backend | runtime | file | export builds | runs at | needs | default shapes |",
            "|---|---|---|---|---|---|---|"]
    for r in RUNTIMES.values():
        builds = ", ".join(p.upper() for p in r.builds) or "(source, not an export target)"
        runs = ", ".join(p.upper() for p in r.runs_at)
        needs = "; ".join(f"`{install}`" for _, install in r.modules)
        if r.needs_cuda:
            needs += "; an NVIDIA GPU"
        name = f"`{r.name}`" + "".join(f", `{a}`" for a in r.aliases)
        suffix = f"`best{r.suffix}/`" if r.is_dir else f"`best{r.suffix}`"
        rows.append(f"| {name} | {r.title} | {suffix} | {builds} | {runs} | {needs} | "
                    f"{'dynamic' if r.default_dynamic else 'static'} |")
    return "\n".join(rows)


def _thresholds() -> str:
    from yolo_transfer.runtimes import RAW_THRESHOLDS, THRESHOLDS

    rows = ["| precision the export runs at | matched-box IoU ≥ | score error ≤ (max / mean) | unmatched boxes ≤ | "
            "mAP50-95 difference ≤ | raw outputs (ONNX): box px / score ≤ |", "|---|---|---|---|---|---|"]
    for prec, t in THRESHOLDS.items():
        raw = RAW_THRESHOLDS.get(prec)
        raw_s = f"{raw[0]:g} / {raw[1]:g}" if raw else "reported, not gated"
        rows.append(f"| {prec.upper()} | {t.min_iou:g} | {t.max_score_error:g} / {t.max_mean_score_error:g} | "
                    f"{t.max_unmatched_fraction:.0%} | {t.max_map_diff:g} points | {raw_s} |")
    return "\n".join(rows)


def _exit_codes() -> str:
    from yolo_transfer.errors import EXIT_CODES

    return "\n".join(["| exit code | meaning |", "|---:|---|"] + [f"| {c} | {m} |" for c, m in EXIT_CODES.items()])


def _options(cls_name: str):
    def table() -> str:
        from dataclasses import fields

        import yolo_transfer.options as o

        rows = ["| Python keyword | CLI option | default | what it does |", "|---|---|---|---|"]
        for f in fields(getattr(o, cls_name)):
            cli, flag = o.cli_name(f), f.metadata.get("flag")
            cli = f"{cli}/--no-{cli[2:]}" if flag == "pair" else flag if isinstance(flag, str) and cli else cli
            choices = f.metadata.get("choices")
            help_ = f.metadata.get("help", "").replace("|", "\\|") + (f" One of {', '.join(map(str, choices))}."
                                                                      if choices else "")
            rows.append(f"| `{f.name}` | {f'`{cli}`' if cli else '(Python only)'} | `{f.default!r}` | {help_} |")
        return "\n".join(rows)

    return table


TABLES = {"presets": _presets, "heads": _heads, "runtimes": _runtimes, "thresholds": _thresholds,
          "exit-codes": _exit_codes, **{f"options-{v}": _options(f"{v.title()}Options")
                                        for v in ("train", "compare", "export", "predict", "demo")}}


def on_page_markdown(markdown: str, page, config, files) -> str:
    def table(match: re.Match) -> str:
        name = match.group(1)
        if name not in TABLES:
            raise ValueError(f"{page.file.src_path}: unknown generated table '{name}' (known: {', '.join(TABLES)})")
        return TABLES[name]()

    return MARKER.sub(table, markdown)
