"""The parity gate: does the exported model give the source checkpoint's boxes?

Both models see the same images with the SAME preprocessing, recorded in the report: a dynamic-shape export
letterboxes each image to its minimum stride-multiple rectangle, as the `.pt` predictor does by default, so both run
that way; a static export takes only its fixed square input, so the `.pt` runs at that square too (`rect=False`).
A static export against the `.pt`'s rectangles fails (`reference_rect=` shows it): docs/evidence/export.md.

Boxes are paired greedily per class (`yolo_transfer.detections.match`). Both sides are run at a confidence floor
below the gate's `conf`, so a box scoring 0.251 on one side and 0.249 on the other is paired, not "missing". The gate
then looks at every box scoring >= `conf` on either side.

Thresholds are per precision the export RUNS at (`yolo_transfer.runtimes.THRESHOLDS`; the table:
docs/reference/tables.md#parity-thresholds). The export runs at the precision it claims (an FP32 OpenVINO IR is
compiled at f32 even where OpenVINO would pick bf16); where Ultralytics' own runner would pick a lower precision on
this machine, the gate also runs it that way and reports it outside the verdict (`ultralytics_runner`). Both sides
run the same detection head (`yolo_transfer.heads`): the reference follows the export's. INT8's looser limits and
the measurements behind every limit: docs/evidence/export.md.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

import yolo_transfer.heads as heads
import yolo_transfer.safeload as safeload
import yolo_transfer.windows as windows
from yolo_transfer.detections import Detections, match
from yolo_transfer.errors import ParityFailed, UserError  # noqa: F401 - ParityFailed is raised here too
from yolo_transfer.options import ParityOptions, takes
from yolo_transfer.utils.imagefile import is_image
from yolo_transfer.utils.imageread import BadImage, read_image
# The thresholds live in the runtime table (one place); re-exported here where the gate reads them.
from yolo_transfer.runtimes import RAW_THRESHOLDS, THRESHOLDS, Thresholds, pinning, ran_at, runtime_of_path
from yolo_transfer.utils.io import atomic_write_bytes, atomic_write_json, atomic_write_text
from yolo_transfer.utils.walk import walk_files

PAIR_IOU = 0.5  # IoU needed to call two boxes "the same box"; how close they are is then judged by min_iou


@dataclass
class BoxComparison:
    """How one side's boxes compare with the reference's over a set of images."""

    images: int
    gated_reference: int  # reference boxes with score >= conf
    gated_exported: int
    matched: int  # pairs where either box scores >= conf
    unmatched_reference: int
    unmatched_exported: int
    iou_mean: float | None
    iou_min: float | None
    score_error_mean: float | None
    score_error_max: float | None
    per_class: dict[str, dict[str, int]] = field(default_factory=dict)
    worst_images: list[dict[str, Any]] = field(default_factory=list)
    pairs: list[tuple[float, float, float]] = field(default_factory=list, repr=False)  # (score_ref, score_exp, iou)

    @property
    def compared(self) -> int:
        return self.matched + self.unmatched_reference + self.unmatched_exported

    @property
    def unmatched_fraction(self) -> float:
        return (self.unmatched_reference + self.unmatched_exported) / max(self.compared, 1)


def compare_detections(reference: Sequence[Detections], exported: Sequence[Detections], conf: float,
                       names: dict[int, str] | None = None, image_names: Sequence[str] | None = None) -> BoxComparison:
    """Pair boxes per image and class; statistics over the boxes scoring >= `conf` on either side."""
    if len(reference) != len(exported):
        raise ValueError(f"{len(reference)} reference results but {len(exported)} exported results")
    names = names or {}
    per_class: dict[str, dict[str, int]] = {}
    ious, errs, pairs, worst = [], [], [], []
    u_ref = u_exp = 0

    def bump(key: str, class_ids: np.ndarray) -> None:
        for cid in class_ids:
            row = per_class.setdefault(names.get(int(cid), str(int(cid))),
                                       {"reference": 0, "exported": 0, "matched": 0, "unmatched": 0})
            row[key] += 1

    for k, (a, b) in enumerate(zip(reference, exported)):
        ia, ib, iou = match(a, b, PAIR_IOU)
        gate_a, gate_b = a.confidence >= conf, b.confidence >= conf
        lone_a, lone_b = gate_a.copy(), gate_b.copy()  # gated boxes that found no twin
        lone_a[ia] = False
        lone_b[ib] = False
        bump("reference", a.class_id[gate_a])
        bump("exported", b.class_id[gate_b])
        bump("unmatched", a.class_id[lone_a])
        bump("unmatched", b.class_id[lone_b])
        u_ref += int(lone_a.sum())
        u_exp += int(lone_b.sum())
        keep = gate_a[ia] | gate_b[ib]
        i, j, v = ia[keep], ib[keep], iou[keep]
        bump("matched", a.class_id[i])
        ref_scores, exp_scores = a.confidence[i].astype(np.float64), b.confidence[j].astype(np.float64)
        ious += v.tolist()
        errs += np.abs(ref_scores - exp_scores).tolist()
        pairs += zip(ref_scores.tolist(), exp_scores.tolist(), v.tolist())
        img_unmatched, img_min_iou = int(lone_a.sum() + lone_b.sum()), float(v.min(initial=1.0))
        if img_unmatched or img_min_iou < 0.99:
            worst.append({"image": image_names[k] if image_names else k, "unmatched": img_unmatched,
                          "min_iou": round(img_min_iou, 4)})
    worst.sort(key=lambda w: (-w["unmatched"], w["min_iou"]))

    def stat(fn: Callable, xs: list[float]) -> float | None:
        return round(float(fn(xs)), 6) if xs else None

    return BoxComparison(
        images=len(reference), gated_reference=sum(r["reference"] for r in per_class.values()),
        gated_exported=sum(r["exported"] for r in per_class.values()), matched=len(ious),
        unmatched_reference=u_ref, unmatched_exported=u_exp,
        iou_mean=stat(np.mean, ious), iou_min=stat(np.min, ious),
        score_error_mean=stat(np.mean, errs), score_error_max=stat(np.max, errs),
        per_class=per_class, worst_images=worst[:10], pairs=pairs,
    )


def judge(cmp: BoxComparison, th: Thresholds, label: str) -> list[str]:
    """Human-readable reasons this comparison fails the thresholds (empty list = pass)."""
    if cmp.compared == 0:
        return [f"{label}: no boxes scored >= conf on {cmp.images} images, so nothing was compared "
                f"(lower the parity conf or use images with objects)"]
    why = []
    if cmp.unmatched_fraction > th.max_unmatched_fraction:
        why.append(f"{label}: {cmp.unmatched_reference} reference and {cmp.unmatched_exported} exported boxes "
                   f"unmatched of {cmp.compared} ({cmp.unmatched_fraction:.1%} > {th.max_unmatched_fraction:.0%})")
    if cmp.iou_min is not None and cmp.iou_min < th.min_iou:
        why.append(f"{label}: matched-box IoU min {cmp.iou_min:.3f} < {th.min_iou}")
    if cmp.score_error_max is not None and cmp.score_error_max > th.max_score_error:
        why.append(f"{label}: score error max {cmp.score_error_max:.4f} > {th.max_score_error}")
    if cmp.score_error_mean is not None and cmp.score_error_mean > th.max_mean_score_error:
        why.append(f"{label}: score error mean {cmp.score_error_mean:.4f} > {th.max_mean_score_error}")
    return why


@dataclass
class ParityReport:
    """The parity gate's verdict on one export: `passed`, `failures` (one line each) and the numbers behind them.

    Attributes:
        comparisons: per runner (`ultralytics`; `standalone` for ONNX), how the export's boxes compare with the
            reference's (`BoxComparison`: matched boxes, IoU, score errors, per class, worst images).
        thresholds: the limits at the precision the export ran at (`yolo_transfer.runtimes.THRESHOLDS`).
        heads: the head each side ran (`yolo_transfer.heads`); runtime_precision: what each side computed at.
        map50_95: both sides' mAP50-95 on the dataset's val split and their difference (points), with `data`.
        raw: raw head-output errors on identical tensors (ONNX, one-to-many head).
    """

    reference: str
    exported: str
    format: str
    precision: str
    thresholds: Thresholds
    conf: float
    conf_floor: float
    iou: float
    imgsz: list[int]
    images_source: str
    preprocess: dict[str, str]
    comparisons: dict[str, BoxComparison]
    map50_95: dict[str, float | None] | None = None
    failures: list[str] = field(default_factory=list)
    raw: dict[str, float] | None = None  # raw head-output errors on identical tensors (ONNX)
    runtime_precision: dict[str, str] = field(default_factory=dict)  # what each side really computed at
    runner_failures: list[str] = field(default_factory=list)  # Ultralytics' runner at its own precision (not gated)
    runner_note: str | None = None  # one line for the user when that runner computes lower than the export claims
    heads: dict[str, str] = field(default_factory=dict)  # the head each side ran (`yolo_transfer.heads`)

    @property
    def passed(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        """One line: what was compared and the verdict."""
        main = self.comparisons.get("ultralytics") or next(iter(self.comparisons.values()))
        ran = self.runtime_precision.get("exported", self.precision)
        prec = self.precision.upper() + (f" run at {ran.upper()}" if ran not in (self.precision, "unknown") else "")
        head = self.heads.get("exported")
        prec += f", {head}" if head and head != heads.ONE2MANY else ""
        text = (f"parity {'PASSED' if self.passed else 'FAILED'} ({prec}, {main.images} images, "
                f"{main.compared} boxes >= {self.conf}: {main.matched} matched, "
                f"IoU min {_fmt(main.iou_min)}, score err max {_fmt(main.score_error_max)}")
        if self.map50_95:
            text += f", mAP50-95 diff {_fmt(self.map50_95.get('diff_points'))} pts"
        if self.raw:
            text += f", raw output err {self.raw['box_px_max']:.2g} px / {self.raw['score_max']:.2g}"
        text += ")"
        if self.failures:
            text += ": " + "; ".join(self.failures)
        return text

    def to_dict(self) -> dict:
        comps = {}
        for k, c in self.comparisons.items():
            d = asdict(c)
            d.pop("pairs")
            d["compared"] = c.compared
            comps[k] = d
        return {
            "passed": self.passed, "failures": self.failures, "reference": self.reference, "exported": self.exported,
            "format": self.format, "precision": self.precision, "thresholds": asdict(self.thresholds),
            "conf": self.conf, "conf_floor": self.conf_floor, "nms_iou": self.iou, "pair_iou": PAIR_IOU,
            "imgsz": self.imgsz, "images_source": self.images_source, "preprocess": self.preprocess,
            "comparisons": comps, "map50_95": self.map50_95, "raw_output": self.raw,
            "raw_thresholds": RAW_THRESHOLDS.get(self._gated_at), "runtime_precision": self.runtime_precision,
            "runner_failures": self.runner_failures, "runner_note": self.runner_note, "heads": self.heads,
        }

    @property
    def _gated_at(self) -> str:
        ran = self.runtime_precision.get("exported", self.precision)
        return ran if ran in THRESHOLDS and self.precision != "int8" else self.precision

    def to_markdown(self) -> str:
        th = self.thresholds
        lines = [
            f"# Export parity: {'PASSED' if self.passed else 'FAILED'}", "",
            f"- reference: `{self.reference}`", f"- exported: `{self.exported}` ({self.format}, "
            f"{self.precision.upper()})", f"- images: {self.images_source}",
            f"- preprocessing: reference = {self.preprocess['reference']}; exported = {self.preprocess['exported']}",
            "- head: " + ", ".join(f"{k} {heads.TITLES.get(v, v)}" for k, v in self.heads.items()),
            f"- boxes compared: score >= {self.conf} on either side (both run at conf {self.conf_floor}), "
            f"paired per class at IoU >= {PAIR_IOU}",
            "- runtime precision: " + ", ".join(f"{k} {v.upper()}" for k, v in self.runtime_precision.items())
            + " (OpenVINO: INFERENCE_PRECISION_HINT read back from the compiled model)",
            f"- thresholds ({self._gated_at.upper()}): IoU >= {th.min_iou}, score error <= {th.max_score_error} "
            f"(mean <= {th.max_mean_score_error}), "
            f"unmatched <= {th.max_unmatched_fraction:.0%}, mAP50-95 diff <= {th.max_map_diff} points", "",
            "| runner | images | compared | matched | unmatched ref | unmatched exp | IoU mean | IoU min "
            "| score err mean | score err max |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for k, c in self.comparisons.items():
            lines.append(f"| {k} | {c.images} | {c.compared} | {c.matched} | {c.unmatched_reference} | "
                         f"{c.unmatched_exported} | {_fmt(c.iou_mean)} | {_fmt(c.iou_min)} | "
                         f"{_fmt(c.score_error_mean)} | {_fmt(c.score_error_max)} |")
        main = next(iter(self.comparisons.values()))
        if main.per_class:
            lines += ["", "Per class (first runner):", "",
                      "| class | reference boxes >= conf | exported boxes >= conf | matched pairs | unmatched |",
                      "|---|---|---|---|---|"]
            lines += [f"| {n} | {r['reference']} | {r['exported']} | {r['matched']} | {r['unmatched']} |"
                      for n, r in sorted(main.per_class.items())]
        if self.map50_95:
            m = self.map50_95
            lines += ["", f"mAP50-95 on `{m.get('data')}`: reference {_fmt(m.get('reference'))}, exported "
                          f"{_fmt(m.get('exported'))}, difference {_fmt(m.get('diff_points'))} points"]
        if self.raw:
            lim = RAW_THRESHOLDS.get(self._gated_at)
            lines += ["", f"Raw head outputs on identical letterboxed tensors (.pt in torch vs the export): max box "
                          f"error {self.raw['box_px_max']:.3g} px, max score error {self.raw['score_max']:.3g}"
                          + (f" (limits {lim[0]} px, {lim[1]})" if lim else " (not gated at this precision)")]
        if self.failures:
            lines += ["", "## What differed", ""] + [f"- {f}" for f in self.failures]
        if self.runner_note:
            lines += ["", "## Ultralytics' own runner on this machine (not part of the verdict)", "",
                      self.runner_note]
            lines += [f"- {f}" for f in self.runner_failures]
        return "\n".join(lines) + "\n"

    def write(self, base: Path) -> Path:
        """Write `<base>.parity.json`, `.parity.md` and `.parity.png` atomically; returns the JSON path."""
        paths = report_paths(base)
        atomic_write_text(paths["md"], self.to_markdown())
        png = _plot(self)
        if png is not None:
            atomic_write_bytes(paths["png"], png)
        atomic_write_json(paths["json"], self.to_dict())
        return paths["json"]


def report_paths(export: str | Path) -> dict[str, Path]:
    """The parity report's files beside an export: `<export>.parity.json`, `.md` and `.png`."""
    export = Path(export)
    return {ext: export.with_name(f"{export.name}.parity.{ext}") for ext in ("json", "md", "png")}


def _fmt(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:.4g}"


def _plot(report: ParityReport) -> bytes | None:
    """Score agreement scatter + IoU histogram of matched boxes, as PNG bytes."""
    pairs = [p for c in report.comparisons.values() for p in c.pairs]
    if not pairs:
        return None
    import io

    from yolo_transfer.utils.plots import pyplot

    plt = pyplot()

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 4))
    for name, c in report.comparisons.items():
        if c.pairs:
            p = np.asarray(c.pairs)
            ax1.scatter(p[:, 0], p[:, 1], s=8, alpha=0.6, label=name)
            ax2.hist(p[:, 2], bins=40, range=(min(0.5, p[:, 2].min()), 1.0), alpha=0.6, label=name)
    ax1.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax1.set(xlabel="reference score", ylabel="exported score", title="scores of matched boxes")
    ax2.axvline(report.thresholds.min_iou, color="r", lw=0.8, label=f"min IoU {report.thresholds.min_iou}")
    ax2.set(xlabel="IoU with reference box", ylabel="boxes", title="box agreement")
    ax1.legend(fontsize=8)
    ax2.legend(fontsize=8)
    fig.suptitle(f"{Path(report.exported).name}: parity {'PASSED' if report.passed else 'FAILED'}")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


# ----------------------------------------------------------------------------------------------- running the gate


def split_images(data: str | Path, splits: Sequence[str]) -> tuple[list[Path], str]:
    """The images of the first of `splits` a data.yaml has (a folder, a list of folders, or a .txt of paths),
    and which split that was: the one reader of a dataset's images for parity and INT8 calibration."""
    from ultralytics.data.utils import check_det_dataset

    try:
        d = check_det_dataset(str(data), autodownload=False)
    except Exception as e:  # noqa: BLE001 - Ultralytics raises many kinds for a bad yaml
        raise UserError(f"--data {data}: cannot read the dataset ({str(e).splitlines()[0][:200]})") from None
    which = next((k for k in splits if d.get(k)), splits[0])
    roots = d.get(which) or []
    files: list[Path] = []
    for root in roots if isinstance(roots, list) else [roots]:
        root = Path(root)
        if root.is_dir():
            files += sorted(f for f in walk_files(root) if is_image(f))
        elif root.suffix == ".txt" and root.is_file():
            files += [Path(x.strip()) if Path(x.strip()).is_absolute() else root.parent / x.strip()
                      for x in root.read_text().splitlines() if x.strip()]
    return files, which


def collect_images(source: str | Path | None = None, data: str | Path | None = None,
                   limit: int = 32) -> tuple[list[Path], str]:
    """Images to compare on: a folder/file, the dataset's val split, or the samples Ultralytics ships."""
    if source is not None:
        p = Path(source)
        if not p.exists():
            raise UserError(f"parity images {p} not found: pass an existing image folder or file")
        files = [p] if p.is_file() else sorted(f for f in walk_files(p) if is_image(f))
        label = f"folder {p}"
    elif data is not None:
        files, which = split_images(data, ("val", "test"))
        label = f"{which} split of {data}"
    else:
        from ultralytics.utils import ASSETS

        files = sorted(f for f in Path(ASSETS).iterdir() if is_image(f))
        label = "Ultralytics sample images"
    if not files:
        raise UserError(f"no images found for the parity check in {source or data or 'Ultralytics assets'}: "
                        f"pass --parity-images DIR")
    files = files[:limit]
    return files, f"{label} ({len(files)} images)"


def _predict(model, images: Sequence[Path], imgsz, conf: float, iou: float, rect: bool, device: str,
             max_det: int, head: str = heads.ONE2MANY, window=None) -> list[Detections]:
    # One image per call: Ultralytics letterboxes a batch of differently shaped images square even with rect=True.
    # `head`: which head a `.pt` runs (an export runs its own). Images are read with the model's window, as predict.
    out = []
    for p in images:
        (r,) = model.predict(read_image(p, window), imgsz=imgsz, conf=conf, iou=iou, rect=rect, device=device,
                             max_det=max_det, nms=heads.ultralytics_nms(head) if head != heads.NMS else None,
                             verbose=False)
        out.append(Detections.from_ultralytics(r))
    return out


def _standalone(exported: Path, images: Sequence[Path], conf: float, iou: float, rect: bool,
                max_det: int, window=None) -> list[Detections]:
    from yolo_transfer.utils.standalone import OnnxDetector

    det = OnnxDetector(str(exported), providers=["CPUExecutionProvider"], rect=rect)
    out = []
    for p in images:
        (xyxy, scores, cids), = det.predict([read_image(p, window)], conf=conf, iou=iou, max_det=max_det)
        out.append(Detections(xyxy, scores, cids))
    return out


def _val_map(model, data, imgsz, rect: bool, device: str, project: Path, batch: int,
             head: str = heads.ONE2MANY, window=None) -> float:
    from yolo_transfer.training.reader import reading

    with reading(window):  # Ultralytics' val loader reads through the project's reader, as training did
        m = model.val(data=str(data), imgsz=imgsz, rect=rect, device=device, batch=batch, plots=False, verbose=False,
                      project=str(project), name="val", exist_ok=True, workers=0, nms=heads.ultralytics_nms(head))
    return float(m.box.map) * 100.0


def raw_output_error(reference: Any, exported: Path, images: Sequence[Path], shape: Sequence[int],
                     rect: bool, max_images: int = 8, head: str = heads.ONE2MANY,
                     window=None) -> dict[str, float] | None:
    """ONNX only: feed identical letterboxed tensors to a fused FP32 copy of `reference` (the `.pt`'s loaded `YOLO`)
    and to the export (onnxruntime).

    Returns the max absolute error of box coordinates (pixels) and class scores over the raw head output, or None
    where the output is already a list of boxes (an `--nms` or end-to-end export, judged on its boxes: a top-k
    list's order is not comparable element by element).
    """
    if head != heads.ONE2MANY:
        return None
    import copy

    import cv2
    import onnxruntime as ort
    import torch

    from yolo_transfer.utils.standalone import preprocess

    model = copy.deepcopy(reference.model).float().fuse().eval()
    sess = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    dtype = np.float16 if "float16" in inp.type else np.float32
    batch = inp.shape[0] if isinstance(inp.shape[0], int) else 1
    box_err = score_err = 0.0
    for p in images[:max_images]:
        try:
            img = read_image(p, window)
        except BadImage:
            continue
        x, _ = preprocess([img] * batch, tuple(int(v) for v in shape), auto=rect)
        with torch.no_grad():
            a = model(torch.from_numpy(x))
        a = (a[0] if isinstance(a, (list, tuple)) else a).float().numpy()
        b = sess.run(None, {inp.name: x.astype(dtype)})[0].astype(np.float32)
        if a.shape != b.shape:
            return None
        box_err = max(box_err, float(np.abs(a[:, :4] - b[:, :4]).max()))
        score_err = max(score_err, float(np.abs(a[:, 4:] - b[:, 4:]).max()))
    return {"box_px_max": box_err, "score_max": score_err}


# Precisions lower than the key: a runner computing at one of these is "lower than the export claims".
_LOWER = {"fp32": {"fp16", "bf16"}, "fp16": {"bf16"}, "int8": {"fp16", "bf16"}, "bf16": set()}


@takes(ParityOptions)
@safeload.loading(None)  # the reference .pt loads restricted (with our allow-list) when called directly too
def check_parity(reference: str | Path, exported: str | Path, **kwargs: Any) -> ParityReport:
    """Run `reference` (.pt) and `exported` on the same images with the same preprocessing and judge the result.

    The export runs at the precision it claims (`precision`), or at `runtime_precision` when given, judged with
    that precision's thresholds. The `.pt` reference runs the head the export really has (read from its metadata),
    so the comparison is like with like; `head` is the one the export was asked for. Returns the `ParityReport`
    (`.passed`, `.failures`); writes `<exported>.parity.{json,md,png}` unless `write=False`.

    Args:
        reference: the source checkpoint (.pt).
        exported: the exported model (a file or an export folder).
    """
    o, _ = ParityOptions.split(kwargs, extra=False)
    g, label = _gate(reference, exported, o)
    sd = _run_sides(g, o.reference_rect)
    comparisons, preprocess, ran = _runners(g, sd, o.standalone)
    failures, raw = _judged(g, sd, comparisons, o.precision, o.head)

    runner_failures, runner_note = [], None
    if o.runner_check and g.runtime.name == "openvino" and o.runtime_precision is None and str(o.device) == "cpu":
        runner_failures, runner_note = _runner_check(g, sd, comparisons, preprocess, ran)
    map_info = None
    if o.data is not None and o.map_on_data:
        map_info = _map_check(g, sd, o.data)
        if map_info["diff_points"] > g.th.max_map_diff:
            failures.append(f"mAP50-95 differs by {map_info['diff_points']:.2f} points > {g.th.max_map_diff}")

    report = ParityReport(
        reference=str(g.reference), exported=str(g.exported), format=g.runtime.name, precision=o.precision,
        thresholds=g.th, conf=o.conf, conf_floor=g.floor, iou=o.iou, imgsz=[int(s) for s in sd.shape],
        images_source=label, preprocess=preprocess, comparisons=comparisons, map50_95=map_info, failures=failures,
        raw=raw, runtime_precision=ran, runner_failures=runner_failures, runner_note=runner_note,
        heads={"reference": sd.ref_head, "exported": sd.exp_head},
    )
    if o.write:
        report.write(g.exported)
    return report


def _runners(g: "_Gate", sd: "_Sides", standalone: bool | None) -> tuple[dict, dict, dict]:
    """The runners' detections compared with the reference's: Ultralytics' runtime always, the standalone
    numpy/onnxruntime runner where the runtime is ONNX (or `standalone` says)."""
    ran = {"reference": ran_at(sd.ref_model.predictor.model), "exported": sd.exp_ran}
    image_names = [p.name for p in g.files]
    comparisons = {"ultralytics": compare_detections(sd.ref_dets, sd.exp_dets, g.conf, sd.names, image_names)}
    preprocess = {"reference": sd.ref_pre, "exported": sd.exp_pre + " via Ultralytics AutoBackend"}
    if standalone is None:
        standalone = g.runtime.name == "onnx"
    if standalone:
        sa = _standalone(g.exported, g.files, g.floor, g.iou, sd.dynamic, g.max_det, g.window)
        comparisons["standalone"] = compare_detections(sd.ref_dets, sa, g.conf, sd.names, image_names)
        preprocess["standalone"] = sd.exp_pre + " via yolo_transfer/utils/standalone.py (numpy + onnxruntime)"
        ran["standalone"] = sd.exp_ran
    return comparisons, preprocess, ran


def _judged(g: "_Gate", sd: "_Sides", comparisons: dict, precision: str,
            head: str | None) -> tuple[list[str], dict | None]:
    """The verdict's failures (detections, head, pinned precision, raw outputs, class names) and the raw errors."""
    failures = judge(comparisons["ultralytics"], g.th, "ultralytics")
    if head is not None and head != sd.exp_head:  # e.g. --end2end asked, and the format fell back to one-to-many
        failures.insert(0, heads.mismatch(head, sd.exp_head, f"the {g.runtime.title} export"))
    if sd.exp_ran in _LOWER.get(g.run_at, set()):  # the runtime did not honour the precision we pinned
        failures.insert(0, f"the export ran at {sd.exp_ran.upper()}, not the {g.run_at.upper()} it was pinned to")
    if "standalone" in comparisons:
        own = judge(comparisons["standalone"], g.th, "standalone")
        same = [f.replace("ultralytics:", "standalone:", 1) for f in failures] == own
        failures += ["standalone runner: the same differences"] if own and same else own
    raw = (raw_output_error(sd.ref_model, g.exported, g.files, sd.shape, sd.dynamic, head=sd.exp_head, window=g.window)
           if g.runtime.name == "onnx" else None)
    failures = _raw_check(raw, RAW_THRESHOLDS.get(precision if precision == "int8" else g.run_at), failures,
                          comparisons["ultralytics"].compared)
    exp_names = {int(k): str(v) for k, v in sd.exp_model.names.items()} if sd.exp_model.names else None
    if exp_names is not None and exp_names != sd.names:
        failures.append("class names differ between the reference and the exported model")

    return failures, raw


def _raw_check(raw: dict | None, limits, failures: list[str], compared: int) -> list[str]:
    """The raw outputs judged: a difference beyond `limits` fails; within them, when no box was compared (a model
    that scores low), they prove the same function and the empty comparison is not a failure."""
    if raw is None or limits is None:
        return failures
    if raw["box_px_max"] > limits[0] or raw["score_max"] > limits[1]:
        return failures + [f"raw outputs differ: box error {raw['box_px_max']:.3g} px (max {limits[0]}), "
                           f"score error {raw['score_max']:.3g} (max {limits[1]})"]
    if compared == 0:
        same = "standalone runner: the same differences"
        return [f for f in failures if "nothing was compared" not in f and f != same]
    return failures


def _map_check(g: "_Gate", sd: "_Sides", data) -> dict:
    """mAP50-95 of both sides on `data`'s val split, each with its own preprocessing."""
    import tempfile

    from ultralytics import YOLO

    with tempfile.TemporaryDirectory(prefix="yt-parity-val-") as tmp:
        batch = int(getattr(sd.backend, "batch", 1) or 1) if not sd.dynamic else 1
        m_ref = _val_map(YOLO(str(g.reference)), data, sd.shape if not sd.dynamic else g.imgsz, sd.ref_rect, g.device,
                         Path(tmp), 1, sd.ref_head, g.window)
        with pinning(g.runtime, g.run_at):
            m_exp = _val_map(YOLO(str(g.exported), task="detect"), data, g.imgsz, sd.dynamic, g.device, Path(tmp),
                             batch, window=g.window)
    return {"data": str(data), "reference": round(m_ref, 4), "exported": round(m_exp, 4),
            "diff_points": round(abs(m_ref - m_exp), 4)}


def _runner_check(g: "_Gate", sd: "_Sides", comparisons: dict, preprocess: dict,
                  ran: dict) -> tuple[list[str], str | None]:
    """What a user of Ultralytics' own runner (`yolo predict model=<export>`) gets here, when that is less: OpenVINO
    on a CPU whose default precision is below the one the gate pinned. Reported beside the verdict, not in it."""
    from ultralytics import YOLO

    from yolo_transfer.runtimes import openvino_cpu_default

    default = openvino_cpu_default()
    if default not in _LOWER.get(g.run_at, set()):
        return [], None
    with pinning(g.runtime, default):
        runner = YOLO(str(g.exported), task="detect")
        runner_dets = _predict(runner, g.files, g.imgsz, g.floor, g.iou, True, g.device, g.max_det, window=g.window)
    runner_ran = ran_at(runner.predictor.model, fallback=default)
    ran["ultralytics_runner"] = runner_ran
    c = comparisons["ultralytics_runner"] = compare_detections(sd.ref_dets, runner_dets, g.conf, sd.names,
                                                               [p.name for p in g.files])
    preprocess["ultralytics_runner"] = sd.exp_pre + " via Ultralytics AutoBackend at OpenVINO's CPU default"
    if runner_ran not in _LOWER.get(g.run_at, set()):
        return [], None
    runner_failures = judge(c, g.th, f"Ultralytics' runner at {runner_ran.upper()}")
    verdict = (f"it would fail this {g.run_at.upper()} gate ({'; '.join(runner_failures)})"
               if runner_failures else f"it still passes this {g.run_at.upper()} gate "
               f"(IoU min {_fmt(c.iou_min)}, score err max {_fmt(c.score_error_max)})")
    return runner_failures, (f"note: Ultralytics' own runner (`yolo predict model={g.exported.name}`) computes this "
                             f"{g.precision.upper()} model at {runner_ran.upper()} on this CPU (OpenVINO's default "
                             f"here) and {verdict}; yolo-transfer predict and benchmark run it at {g.run_at.upper()}")


@dataclass
class _Gate:
    """One gate's settings, checked: the two models, the runtime and precision, the images and thresholds."""

    reference: Path
    exported: Path
    runtime: Any
    precision: str
    run_at: str
    th: Thresholds
    files: list
    conf: float
    floor: float  # both sides run below `conf`, so a box just above it on one side finds its twin just below it
    iou: float
    device: str
    max_det: int
    imgsz: Any = None
    window: Any = None  # the .pt's intensity window (`yolo_transfer.windows`), read when the models load


def _gate(reference, exported, o: ParityOptions) -> tuple[_Gate, str]:
    if not 0.0 < o.conf <= 1.0:
        raise UserError(f"parity conf must be in (0, 1] (got {o.conf})")
    if o.max_images < 1:
        raise UserError(f"parity max images must be >= 1 (got {o.max_images})")
    reference, exported = Path(reference), Path(exported)
    for p in (reference, exported):
        if not p.exists():
            raise UserError(f"{p} not found: parity needs the source .pt and the exported model")
    runtime = runtime_of_path(exported)
    run_at = runtime.run_precision(o.precision, o.runtime_precision)
    th = THRESHOLDS[run_at]
    floor = round(max(o.conf - max(0.05, 2 * th.max_score_error), o.conf / 4), 6)
    files, label = collect_images(o.images, o.data, o.max_images)
    return _Gate(reference, exported, runtime, o.precision, run_at, th, files, o.conf, floor, o.iou, o.device,
                 o.max_det, o.imgsz), label


@dataclass
class _Sides:
    """Both models as run on the gate's images: their detections, heads and preprocessing."""

    exp_model: Any
    ref_model: Any
    exp_dets: list
    ref_dets: list
    backend: Any
    exp_ran: str
    dynamic: bool
    shape: list
    exp_pre: str
    ref_pre: str
    ref_rect: bool
    exp_head: str
    ref_head: str
    names: dict


def _window(g: _Gate, ref_model):
    """The `.pt`'s window, which the export must carry too (predict applies the export's own)."""
    ref, exp = windows.of_model(ref_model.model), windows.of_export(g.exported)
    if (ref and (ref.low, ref.high)) != (exp and (exp.low, exp.high)):
        raise UserError(f"{g.exported} carries the intensity window {exp or 'none'}, but {g.reference} was trained "
                        f"with {ref or 'none'}: it is not this checkpoint's export (re-export it)")
    return ref


def _run_sides(g: _Gate, reference_rect: bool | None) -> _Sides:
    """The export at the pinned precision, then the `.pt` with the head the export really has and, by default, the
    export's own letterbox (like with like); `g.imgsz` becomes the size the `.pt` was trained at when unset."""
    from ultralytics import YOLO

    exp_head = heads.of_export(g.exported)
    ref_head = heads.END2END if exp_head == heads.END2END else heads.ONE2MANY  # NMS in a graph = one-to-many + NMS
    with pinning(g.runtime, g.run_at):
        exp_model = YOLO(str(g.exported), task="detect")
        ref_model = YOLO(str(g.reference))
        if g.imgsz is None:
            g.imgsz = ref_model.overrides.get("imgsz") or 640
        g.window = _window(g, ref_model)
        exp_dets = _predict(exp_model, g.files, g.imgsz, g.floor, g.iou, True, g.device, g.max_det, window=g.window)
    backend = exp_model.predictor.model
    dynamic = bool(getattr(backend, "dynamic", False))
    shape = list(getattr(backend, "imgsz", None) or exp_model.predictor.imgsz)
    exp_pre = (f"rect letterbox (minimum stride-multiple rectangle within {shape})" if dynamic
               else f"square letterbox {shape} (static input)")
    ref_rect = dynamic if reference_rect is None else bool(reference_rect)
    if ref_head == heads.END2END and not heads.has_end2end(ref_model):
        raise UserError(f"{g.exported} runs an NMS-free end-to-end head, but {g.reference} has none: it is not that "
                        f"checkpoint's export")
    ref_dets = _predict(ref_model, g.files, shape if not dynamic else g.imgsz, g.floor, g.iou, ref_rect, g.device,
                        g.max_det, ref_head, g.window)
    ref_pre = (f"rect letterbox (minimum stride-multiple rectangle within {g.imgsz}), Ultralytics' .pt default"
               if ref_rect else f"square letterbox {shape} (rect=False)")
    return _Sides(exp_model, ref_model, exp_dets, ref_dets, backend, ran_at(backend, fallback=g.run_at,
                  built=g.precision), dynamic, shape, exp_pre, ref_pre, ref_rect, exp_head, ref_head,
                  {int(k): str(v) for k, v in ref_model.names.items()})
