"""`TransferRecord`: what a training run did, in one typed record read and written in one place.

Every run folder holds `transfer.json` (this record), `transfer.md` (the same facts for people) and `transfer.png`
(when each layer trains). `write()` renders all three atomically; `read()` is the only reader of `transfer.json`
(training, resume, compare, export and the demo all go through it), on `utils.records.JsonRecord` (keys of other
versions kept in `extra`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from yolo_transfer.utils.records import JsonRecord

TRANSFER_JSON = "transfer.json"
FORMAT = "yolo-transfer/transfer@1"


@dataclass
class TransferRecord(JsonRecord):
    preset: str | None = None
    plan: dict = field(default_factory=dict)  # FreezePlan.to_dict()
    layers: list[dict] = field(default_factory=list)  # FreezePlan.layer_table()
    anatomy: dict = field(default_factory=dict)
    bn_policy: str = "frozen"
    class_map: dict = field(default_factory=dict)
    source: dict = field(default_factory=dict)  # {"path", "sha256" (None: trained from an architecture YAML)}
    data: dict = field(default_factory=dict)  # {"yaml", "sha256", "names"}
    seed: int | None = None
    window: dict | None = None  # the intensity window images above 8 bits were read with (utils.imageread.Window)
    params: dict = field(default_factory=dict)  # per part: total / trainable_at_start / trained_at_some_stage / ...
    status: str = "new"  # training | interrupted | complete | verification failed | failed
    run_dir: str | None = None
    versions: dict = field(default_factory=dict)
    args: dict = field(default_factory=dict)  # Ultralytics' resolved training arguments
    # the epochs asked for; in time mode Ultralytics' first guess, which args["epochs"] loses to the refits (and which
    # decided whether the run closed mosaic at once: `timed.mosaic_closed_before`)
    epochs_requested: int | None = None
    # setup record (after Ultralytics' setup: the head as loaded, the optimizer as built)
    head: dict = field(default_factory=dict)
    class_mapping: list[dict] = field(default_factory=list)
    source_names: dict | None = None
    param_groups: list[dict] = field(default_factory=list)
    freeze_mode: str | None = None
    cpu_threads: int | None = None  # torch threads of a CPU run (utils.env.cpu_train_threads); None on a GPU
    resumed_at_epoch: list[int] = field(default_factory=list)
    keep: dict = field(default_factory=dict)  # keep-classes: training.keep.KeepPlan + held prefixes + the output check
    retention: dict = field(default_factory=dict)  # source classes' mAP before / after (training.retention)
    train_seconds: float | None = None
    peak_memory_mb: float | None = None
    verification: dict = field(default_factory=dict)  # verify.Verification.to_dict()
    metrics: dict = field(default_factory=dict)  # final row of results.csv
    metrics_source: str = "last"  # "last": the last epoch's validation (results.csv), not best.pt's
    final_val: dict = field(default_factory=dict)  # Ultralytics' final validation of best.pt, per class too
    history: list[dict] = field(default_factory=list)  # one row per epoch: results.csv + seconds, memory, images/s
    error: str | None = None
    format: str = FORMAT
    extra: dict = field(default_factory=dict)  # keys this version does not know, kept as they were

    FILE: ClassVar[str] = TRANSFER_JSON
    WHAT: ClassVar[str] = "transfer record"

    # --- one reader, one writer (utils.records.JsonRecord) -----------------------------------------------------
    @classmethod
    def read(cls, run_dir: str | os.PathLike) -> "TransferRecord":
        """The record of a run folder; one-line `UserError` if there is none or it is not readable JSON."""
        return cls.load(run_dir, missing=f"no {TRANSFER_JSON} in {Path(run_dir)}; pass a yolo-transfer run folder",
                        damaged="; it was damaged or not written by yolo-transfer")

    def write(self, run_dir: str | os.PathLike | None = None, plot: bool | None = None) -> Path:
        """`transfer.json` + `transfer.md` (+ `transfer.png` once training has started), each written atomically."""
        from yolo_transfer.training.report import render_markdown, render_plot
        from yolo_transfer.utils.io import atomic_write_text

        run_dir = Path(run_dir if run_dir is not None else self.run_dir)
        self.write_json(run_dir)
        d = self.to_dict()
        atomic_write_text(run_dir / "transfer.md", render_markdown(d))
        if plot if plot is not None else (self.status != "training" and self.plan and self.layers):
            render_plot(d, run_dir / "transfer.png")  # once per run is enough for the picture
        return run_dir / TRANSFER_JSON

    # --- convenience ---------------------------------------------------------------------------------------------
    @property
    def verified(self) -> bool:
        return bool(self.verification.get("ok"))

    @property
    def trainable_params(self) -> dict[str, int]:
        """Parameters trained at some stage, per part (backbone, neck, head, total)."""
        return {part: int(v.get("trained_at_some_stage", 0)) for part, v in self.params.items()}
