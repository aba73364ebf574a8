"""One options schema per verb: the CLI's options and the Python keyword arguments are two faces of these types.

Each verb's options are a frozen dataclass whose fields carry their help, CLI name and choices (`opt`); the click
options (`yolo_transfer.cli.schema.click_options`) and the public functions' signatures and docstrings (`takes`) are
generated from it, so adding an option is one field plus its use, and the faces cannot drift. Shared defaults (the
confidence, the engines, the metric key) are defined here once. This module imports no torch and no click.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Mapping, Sequence

from yolo_transfer.runtimes import EXPORT_NAMES, RUN_PRECISIONS  # the runtime table (no torch)

CONF = 0.25  # the confidence threshold of predictions, baked-in NMS and the parity gate (as Ultralytics' predict)
IOU = 0.7  # NMS IoU, as Ultralytics' predict
ENGINES = ("local", "ray")  # where trials, probes and predictions run: this process, or Ray
METRIC = "metrics/mAP50-95(B)"  # the score every run, trial and probe is judged by (Ultralytics' results.csv key)
METRIC50 = "metrics/mAP50(B)"
BN_POLICIES = ("frozen", "train", "freeze")
BACKENDS = ("engine", "onnx", "openvino", "pt")  # inference.backends.BACKENDS' keys (a test holds them equal)
KEEP_METHODS = ("exact", "distill", "plain")
KEEP_FIELDS = ("keep_classes", "keep_method", "retention_data", "replay")  # train's keep-classes options


def opt(default: Any = None, help: str = "", *, cli: str | bool = True, aliases: Sequence[str] = (),
        choices: Sequence | None = None, min: float | None = None, type: Callable | None = None,
        path: bool = False, flag: bool | str = False, parse: Callable | None = None,
        positional: bool = False, metavar: str | None = None) -> Any:
    """A field of an options type: its default and what a user reads about it.

    `cli` is the option's CLI name (`True`: `--` + the field name with dashes; `False`: Python only); `flag`: a
    switch (`True`) or a `--x/--no-x` pair (`"pair"`); `parse` turns the CLI's text into the Python value (`0,2` ->
    `[0, 2]`); `positional`: a positional-or-keyword parameter in Python (export's `format`)."""
    meta = dict(help=help, cli=cli, aliases=tuple(aliases), choices=tuple(choices) if choices else None, min=min,
                type=type, path=path, flag=flag, parse=parse, positional=positional,
                metavar=metavar)
    return field(default=default, metadata=meta)


class Options:
    """What every options type can do: be built from keyword arguments, and list its fields."""

    @classmethod
    def split(cls, kwargs: Mapping[str, Any], *, extra: bool = True, base: "Options | None" = None) -> tuple[Any, dict]:
        """This type from the keys it knows (over `base`'s values), and the rest (Ultralytics' own arguments, passed
        through); with `extra=False` an unknown key is a `TypeError`, as for any Python function."""
        names = {f.name for f in fields(cls)}
        rest = {k: v for k, v in kwargs.items() if k not in names}
        if rest and not extra:
            raise TypeError(f"unexpected keyword argument '{next(iter(rest))}'")
        known = {k: v for k, v in kwargs.items() if k in names}
        return (dataclasses.replace(base, **known) if base is not None else cls(**known)), rest

    def changed(self, *names: str) -> dict:
        """The named fields (all, without names) whose values differ from their defaults."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if (not names or f.name in names) and getattr(self, f.name) != f.default}

    def replace(self, **changes: Any):
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def cli_fields(cls) -> list:
        return [f for f in fields(cls) if f.metadata.get("cli")]

    @classmethod
    def own(cls, **more: str | None) -> dict[str, str | None]:
        """Each field's name -> the CLI option that sets it (None: Python only), plus `more`: the keys a `key=value`
        pass-through to Ultralytics may not use, because the command sets them itself."""
        return {**{f.name: cli_name(f) for f in fields(cls)}, **more}


def cli_name(f) -> str | None:
    """A field's CLI option (`--budget-minutes`), or None for a Python-only field."""
    cli = f.metadata.get("cli")
    return cli if isinstance(cli, str) else ("--" + f.name.replace("_", "-")) if cli else None


# fields several verbs share: one definition each
def _imgsz(default: int | None = 640, help: str = "Training image size, as in Ultralytics."):
    return opt(default, help, type=int, min=32 if default else None)


def _batch(default: int | None = 16, help: str = "Batch size, as in Ultralytics."):
    return opt(default, help, type=int)


def _device(help: str = "cpu, 0, or 0,1 for multi-GPU DDP (default: Ultralytics' choice)."):
    return opt(None, help)


def _engine(help: str):
    return opt("local", help, choices=ENGINES)


def _ray_address():
    return opt(None, "An existing Ray cluster for --engine ray (default: RAY_ADDRESS or a local Ray).")


def _project():
    return opt("runs", "Folder for run folders.", path=True)


def _presets_file():
    return opt(None, "YAML file with your own presets.", path=True)


def _callbacks():
    return opt(None, "Ultralytics callback events to functions, e.g. `{\"on_fit_epoch_end\": fn}`.", cli=False)


def _window(help: str):
    return opt(None, help, metavar="LOW,HIGH|pLOW,pHIGH|auto")


def _max_pixels():
    return opt(None, "Refuse images with more pixels than this (default 268,435,456 = 16384^2, or "
                     "$YOLO_TRANSFER_MAX_PIXELS): a header may claim 50,000 x 50,000 (docs: Untrusted inputs).",
               type=int, min=1)


def _trust():
    return opt(False, "Load checkpoints with full pickle instead of the restricted loader: only for a file you have "
                      "vetted (a checkpoint can run code; docs: Untrusted inputs).", flag=True)


@dataclass(frozen=True)
class TrainOptions(Options):
    """`train`'s options (beside the model, the data and Ultralytics' own training arguments)."""

    preset: str = opt("frozen-backbone", "Transfer preset; see `yolo-transfer presets`. `auto` (or auto:a,b,c) tries "
                      "frozen-backbone, full and progressive (recommend's pick first) by successive halving and "
                      "finishes the best, for at most 1.5x the epochs (or --budget-minutes) of one run (needs >= 6 "
                      "epochs, or a budget that fits >= 3; report in auto.md). A `+keep-<method>` suffix is "
                      "--keep-classes --keep-method <method>.")
    epochs: int = opt(50, "Epochs to train (with --budget-minutes: only Ultralytics' first guess).", type=int, min=1)
    budget_minutes: float | None = opt(None, "Wall-clock budget for the training loop (Ultralytics' time=, refits "
                                       "epochs and lr schedule to it; with --preset auto the probes take shares of "
                                       "it, ~1.5x in all).", type=float)
    imgsz: int = _imgsz()
    batch: int = _batch()
    device: str | None = _device()
    seed: int = opt(0, "The run's random seed.", type=int)
    project: str = _project()
    name: str = opt("train", "Run folder name (never overwritten: -2, -3 ...).")
    bn_policy: str = opt("frozen", "frozen: BN stats fixed in frozen layers; train: all BN update; freeze: no BN "
                         "updates.", choices=BN_POLICIES)
    class_map: str | Mapping[str, str] | None = opt(None, "YAML (or, in Python, a dict) of target_class: "
                                                    "source_class for renamed classes.", path=True)
    presets_file: str | None = _presets_file()
    resume: str | None = opt(None, "Resume an interrupted run folder (or an auto run's folder) with the same plan.",
                             path=True)
    callbacks: Mapping[str, Callable] | None = _callbacks()
    verbose: bool = opt(True, "Ultralytics' own log output.", cli=False)
    engine: str = _engine("With --preset auto: ray runs the probes in parallel on Ray Tune with its ASHA scheduler "
                          "(one GPU per probe on a cluster).")
    ray_address: str | None = _ray_address()
    wait: bool = opt(False, "With --resume: if another process is writing that folder, wait for it to finish "
                     "instead of stopping.", flag=True)
    keep_classes: bool = opt(False, "Keep the checkpoint's classes and add the dataset's: one model, one names table "
                             "(a dataset class named like a checkpoint class is that class).", flag=True)
    keep_method: str = opt("exact", "exact: the checkpoint's outputs unchanged (verified); the new classes train a "
                           "copy of what --preset trains (the neck on frozen-backbone) and new class branches; "
                           "distill: the backbone may train, old classes kept by pseudo-labels (+ --replay); plain: "
                           "no protection.", choices=KEEP_METHODS)
    retention_data: str | None = opt(None, "A dataset labelled with the checkpoint's classes (e.g. coco128.yaml): "
                                     "records the source classes' mAP before and after training (retention).",
                                     path=True)
    replay: str | None = opt(None, "With --keep-method distill: a source-domain dataset whose train images join the "
                             "training set.", path=True)
    window: str | None = _window("Intensity window for images above 8 bits (12/16-bit): LOW,HIGH, pLOW,pHIGH "
                                 "(percentiles of the training images' values, e.g. p0.5,p99.5), or auto (measured "
                                 "once from the training images, rounded up to a sensor depth); recorded "
                                 "with the model and applied by predict and export.")
    max_pixels: int | None = _max_pixels()
    trust_checkpoint: bool = _trust()


@dataclass(frozen=True)
class CompareOptions(Options):
    """`compare`'s options (beside the model, the data and Ultralytics' training arguments for every trial)."""

    presets: Sequence[str] | str = opt(("frozen-backbone", "full"), "Comma-separated transfer presets to compare (at "
                                       "least two; see `yolo-transfer presets`); `+keep-<method>` keeps the "
                                       "checkpoint's classes (full+keep-distill, head-only+keep-exact).")
    epochs: int | None = opt(None, "Equal epochs per trial.", type=int, min=1)
    budget_minutes: float | None = opt(None, "Equal wall time per trial (training loop; Ultralytics fits the epochs "
                                       "and lr schedule to it).", type=float)
    seeds: Sequence[int] | str = opt((0,), "Comma-separated seeds, e.g. 0,1,2 (the spread decides ties).")
    fractions: Sequence[float] | str = opt((1.0,), "Comma-separated fractions of the training set, e.g. 0.25,0.5,1.0 "
                                           "(nested, seeded subsets).")
    imgsz: int = _imgsz()
    batch: int = _batch()
    device: str | None = _device("cpu, 0, ... (default: Ultralytics' choice).")
    project: str = _project()
    name: str = opt("compare", "Compare folder; rerun the same command to resume it.")
    engine: str = _engine("ray: trials in parallel on Ray Tune (an existing cluster, or a local Ray).")
    ray_address: str | None = _ray_address()
    callbacks: Mapping[str, Callable] | None = _callbacks()
    verbose: bool = opt(False, "Show Ultralytics' per-epoch output.", flag=True)
    presets_file: str | None = _presets_file()
    echo: Callable[[str], None] | None = opt(None, "Where progress lines go (default: nowhere).", cli=False)
    wait: bool = opt(False, "If another process is running this comparison, wait for it to finish (then resume it) "
                     "instead of stopping.", flag=True)
    retention_data: str | None = opt(None, "A dataset labelled with the checkpoint's classes (e.g. coco128.yaml): "
                                     "each trial's retention of them, a sixth axis.", path=True)
    replay: str | None = opt(None, "Source-domain images for `+keep-distill` trials (e.g. --presets "
                             "full,full+keep-distill).", path=True)
    trust_checkpoint: bool = _trust()


@dataclass(frozen=True)
class ParityOptions(Options):
    """`check_parity`'s options (beside the reference .pt and the exported model); Python only: `export` sets them
    from its `--parity-*` options."""

    precision: str = opt("fp32", "The precision the export claims (fp32, fp16, int8): its thresholds judge it.",
                         cli=False)
    imgsz: int | Sequence[int] | None = opt(None, "Image size (default: the export's own).", cli=False)
    images: str | None = opt(None, "Image folder to compare on (default: `data`'s val images).", cli=False)
    data: str | None = opt(None, "data.yaml: its val images, and the mAP50-95 check on them.", cli=False)
    conf: float = opt(CONF, "Boxes scoring at least this on either side must match.", cli=False)
    iou: float = opt(IOU, "NMS IoU on both sides.", cli=False)
    max_images: int = opt(32, "Most images compared.", cli=False)
    device: str = opt("cpu", "Where both sides run.", cli=False)
    reference_rect: bool | None = opt(None, "None: the reference takes the export's preprocessing (like with like); "
                                      "a bool forces it (only to demonstrate a broken comparison).", cli=False)
    standalone: bool | None = opt(None, "Also check the numpy/onnxruntime runner (None: for ONNX exports).",
                                  cli=False)
    map_on_data: bool = opt(True, "With `data`: compare mAP50-95 too.", cli=False)
    max_det: int = opt(300, "Most boxes per image on both sides.", cli=False)
    write: bool = opt(True, "Write `<exported>.parity.{json,md,png}`.", cli=False)
    runtime_precision: str | None = opt(None, "Run the export at this precision instead (e.g. bf16: an explicit "
                                        "choice, judged with that precision's thresholds).", cli=False)
    runner_check: bool = opt(True, "When Ultralytics' own runner would compute at a lower precision on this machine "
                             "(OpenVINO on a bf16 CPU), run it too and report it, outside the verdict.", cli=False)
    head: str | None = opt(None, "The head the export was asked for (`yolo_transfer.heads`); an export whose head is "
                           "another fails with one line saying so.", cli=False)


@dataclass(frozen=True)
class ExportOptions(Options):
    """`export`'s options (beside the model)."""

    format: str = opt("onnx", "Target runtime: onnx, openvino, or engine (TensorRT, needs an NVIDIA GPU).",
                      positional=True, metavar="|".join(EXPORT_NAMES))
    quantize: int = opt(32, "Precision, as Ultralytics 8.4 names it: 32 FP32, 16 FP16 (looser parity thresholds), 8 "
                        "INT8 calibrated on --data's images (loosest).", choices=(32, 16, 8))
    end2end: bool = opt(False, "Export YOLO26's NMS-free one-to-one head (Ultralytics' nms=False); the gate runs the "
                        ".pt with that head too. Default: the one-to-many head + NMS, as `yolo export` and .pt "
                        "predictions.", flag=True)
    nms: bool = opt(False, "Put NMS inside the exported graph (one-to-many head, output (B, N, 6)).", flag=True)
    data: str | None = opt(None, "data.yaml: INT8 calibration, parity images and the mAP check.", path=True)
    dynamic: bool | None = opt(None, "Dynamic input shapes (default for onnx/openvino: boxes match the .pt's "
                               "rectangular letterbox) or a fixed square input (default for engine).",
                               flag="--dynamic/--static")
    batch: int = _batch(1, "Batch size (the fixed batch when static).")
    imgsz: int | Sequence[int] | None = _imgsz(None, "Input size (default: the size the checkpoint was trained at).")
    conf: float = opt(CONF, "With --nms: score threshold baked into the graph (boxes below it are dropped).",
                      type=float)
    iou: float = opt(IOU, "With --nms: NMS IoU baked into the graph.", type=float)
    parity: bool = opt(True, "Run the parity gate.", flag="pair")
    parity_images: str | None = opt(None, "Image folder for the gate (default: --data val images, else "
                                    "Ultralytics' sample images).", path=True)
    parity_conf: float = opt(CONF, "Boxes scoring at least this on either side must match.", type=float)
    parity_max_images: int = opt(32, "Most images the gate compares on.", type=int)
    out_dir: str | None = opt(None, "Where to write the export (default: beside the checkpoint).", path=True)
    device: str | None = _device("Device to export and gate on (default: the format's own: cpu for onnx and "
                                 "openvino, 0 for engine).")
    runtime_precision: str | None = opt(None, "Gate the export run at this precision instead of the one it claims: "
                                        "bf16 for OpenVINO on CPUs with AVX512-bf16/AMX (faster, judged with the BF16 "
                                        "thresholds).", choices=RUN_PRECISIONS)
    trust_checkpoint: bool = _trust()


def parse_ids(text: str | None) -> list[int] | None:
    """`0,2` -> [0, 2] (the CLI's --classes)."""
    if not text:
        return None
    from yolo_transfer.errors import UserError

    try:
        return [int(c) for c in str(text).split(",") if c.strip()]
    except ValueError:
        raise UserError(f"--classes {text}: give comma-separated class ids, e.g. 0,2") from None


@dataclass(frozen=True)
class PredictOptions(Options):
    """`predict`'s options (beside the model, the source and the output folder)."""

    backend: str | None = opt(None, "Force a backend (default: from the model's suffix).",
                              choices=BACKENDS)
    imgsz: int | None = _imgsz(None, "Model input size (default: the model's own).")
    batch: int | None = _batch(None, "Most images per model call: dynamic models batch images of the same "
                               "letterboxed shape, static ones take their fixed batch (default: 1 for ONNX on CPU, "
                               "measured fastest per MB; else 8).")
    conf: float = opt(CONF, "Minimum confidence.", type=float)
    iou: float = opt(IOU, "NMS IoU threshold.", type=float)
    max_det: int = opt(300, "Most boxes per image.", type=int)
    classes: Sequence[int] | None = opt(None, "Keep only these class ids, e.g. 0,2.", parse=parse_ids)
    device: str | None = _device("cpu, 0, cuda:1 ... (default: first GPU if any, else CPU).")
    precision: str | None = opt(None, "Compute at this precision where the runtime offers the choice (fp16: a .pt on "
                                "CUDA; OpenVINO: bf16 on CPUs with bf16, ~1.9x faster here, own parity thresholds); "
                                "default: as the model was built.", choices=RUN_PRECISIONS)
    end2end: bool | None = opt(None, "A YOLO26 .pt: run its NMS-free one-to-one head (default: the one-to-many head + "
                               "NMS, as Ultralytics and a default export do). An export runs the head it was built "
                               "with.", flag="pair")
    workers: int | None = opt(None, "Decode threads (default: half the CPU cores, at most 8).", type=int)
    formats: str | Sequence[str] | None = opt("jsonl", "Comma-separated outputs: jsonl, csv, coco, images, crops.",
                                              cli="--format")
    tile: bool = opt(False, "Slice images larger than the model input into overlapping tiles.", flag=True)
    tile_overlap: float = opt(0.2, "Overlap between neighbouring tiles.", type=float)
    strict: bool = opt(False, "Stop with an error at the first unreadable image.", flag=True)
    window: str | None = _window("Intensity window for images above 8 bits (12/16-bit, DICOM): LOW,HIGH, "
                                 "pLOW,pHIGH (percentiles) or auto (measured from SOURCE); default: the window the "
                                 "model was trained with, else auto.")
    max_pixels: int | None = _max_pixels()
    overwrite: bool = opt(False, "Start over instead of resuming a run in --out.", flag=True)
    engine: str = _engine("ray: run on Ray Data (pip install 'yolo-transfer[distributed]').")
    ray_address: str | None = _ray_address()
    ray_actors: int | None = opt(None, "Model actors (default: one per GPU, else 1).", type=int)
    wait: bool = opt(False, "If another run is writing --out, wait for it to finish instead of stopping.", flag=True)
    trust_checkpoint: bool = _trust()
    show_progress: bool | None = opt(None, "A progress bar (default: when stderr is a terminal).", cli=False)


@dataclass(frozen=True)
class LoadOptions(Options):
    """What every command that opens a checkpoint takes (`inspect`, `recommend`, `presets`; the other verbs' options
    have the same field)."""

    trust_checkpoint: bool = _trust()


@dataclass(frozen=True)
class DemoOptions(Options):
    """`demo`'s options (beside the model it starts from)."""

    epochs: int = opt(8, "Epochs per strategy (same for all).", type=int, min=1)
    imgsz: int = _imgsz(128, "Training and inference image size.")
    project: str = opt("runs", "Folder for the demo folder.", path=True)
    conf: float = opt(CONF, "Score threshold of the batch inference at the end.", type=float)
    verbose: bool = opt(False, "Show Ultralytics' own output instead of writing it to log.txt.", flag=True)
    datasets: str = opt("datasets", "Where the generated dataset is written (and reused).", cli=False)
    name: str = opt("demo", "The demo folder's name (never reused: -2, -3 ...).", cli=False)
    train_images: int = opt(160, "Generated training images.", cli=False)
    val_images: int = opt(40, "Generated validation images.", cli=False)
    batch: int = _batch(8)
    device: str = opt("cpu", "Where it trains (the demo is made for a CPU).", cli=False)


def takes(options: type, *, overrides: bool = False) -> Callable:
    """Give `fn(head..., **kwargs)` the real signature and docstring of its head parameters plus `options`' fields
    (keyword-only, or positional where the field says so), and with `overrides` a `**overrides` for Ultralytics'
    own arguments: `help()`, the API reference and type checkers see every option, each spelled once."""

    def wrap(fn: Callable) -> Callable:
        sig = inspect.signature(fn)
        head = [p for p in sig.parameters.values() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL, p.KEYWORD_ONLY)]
        pos = [inspect.Parameter(f.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=f.default,
                                 annotation=f.type) for f in fields(options) if f.metadata.get("positional")]
        kw = [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=f.type)
              for f in fields(options) if not f.metadata.get("positional")]
        tail = [inspect.Parameter("overrides", inspect.Parameter.VAR_KEYWORD, annotation="Any")] if overrides else []
        full = sig.replace(parameters=head + pos + kw + tail)
        names = [p.name for p in head]

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            bound = full.bind(*args, **kwargs)  # a wrong or unknown argument is Python's own TypeError
            given = dict(bound.arguments)
            extra = given.pop("overrides", {}) if overrides else {}
            head_args = [given.pop(n) for n in names if n in given]
            return fn(*head_args, **given, **extra)

        del call.__wrapped__  # what inspectors (the API reference, help()) unwrap to would hide the options
        call.__signature__ = full
        call.__doc__ = _with_args(fn.__doc__ or "", options, overrides)
        call.__options__ = options
        return call

    return wrap


def _with_args(doc: str, options: type, overrides: bool) -> str:
    """The docstring with one `Args:` line per field (its help) after the head's own lines."""
    lines = inspect.cleandoc(doc).splitlines()
    new = [f"    {f.name}: {f.metadata.get('help') or ''}" for f in fields(options)]
    if overrides:
        new.append("    **overrides: any other Ultralytics training argument (`lr0=0.01`, `time=0.25` hours, "
                   "`workers=4` ...).")
    if "Args:" not in lines:
        return "\n".join(lines + ["", "Args:"] + new)
    i = lines.index("Args:") + 1
    while i < len(lines) and lines[i].startswith(" "):
        i += 1
    return "\n".join(lines[:i] + new + lines[i:])

