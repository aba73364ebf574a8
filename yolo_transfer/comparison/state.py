"""`CompareState`: a comparison's `compare.json`, one typed record read and written in one place: what a rerun must
match to resume (`CompareSettings.key()`; the trial set may grow) and each trial's run folder, status and error,
written after every change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from yolo_transfer.comparison.plan import CompareSettings, TrialSpec
from yolo_transfer.errors import UserError
from yolo_transfer.utils.records import JsonRecord

FORMAT = "yolo-transfer/compare@1"


@dataclass
class CompareState(JsonRecord):
    format: str = FORMAT
    settings: dict = field(default_factory=dict)  # CompareSettings.key() as JSON
    trials: dict[str, dict] = field(default_factory=dict)  # id -> TrialSpec.to_dict() + run_dir, status, error
    extra: dict = field(default_factory=dict)  # keys this version does not know, kept as they were

    FILE: ClassVar[str] = "compare.json"
    WHAT: ClassVar[str] = "comparison state"

    @classmethod
    def open(cls, folder: Path, settings: CompareSettings) -> "CompareState":
        """The state of the comparison in `folder` (new where there is none), written; refuses a folder that holds
        another comparison."""
        from yolo_transfer.utils.io import to_json

        key = json.loads(to_json(settings.key()))
        state = cls(settings=key)
        if cls.exists(folder):
            state = cls.load(folder, damaged=f"; remove the compare folder {folder} or pick another --name")
            if state.settings != key:
                raise UserError(f"{folder} holds a different comparison (other data, weights, budget or settings); "
                                f"pick another --name, or rerun with that comparison's settings to resume it")
        state.folder = folder
        state.write_json(folder)
        return state

    def set(self, spec: TrialSpec, **kw: Any) -> None:
        self.trials.setdefault(spec.id, spec.to_dict()).update(kw)
        self.write_json(self.folder)
