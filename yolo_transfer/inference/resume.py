"""The completed-image ledger: what makes a killed run resumable with nothing lost and nothing duplicated.

`<out>/.state/ledger.jsonl` is append-only: each commit appends one fsynced line with the images finished since the
last one, each image's detections per class (or its failure), and every streamed output's byte size then. A rerun
reads it (a torn last line ignored), skips those images and cuts each output back to its recorded size, so what the
ledger does not vouch for is redone exactly once; the summary's counts come from these per-image results.
`<out>/.state/run.json` records the model and settings: resuming with others is refused (no mixed results).
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from yolo_transfer.errors import UserError
from yolo_transfer.utils.io import atomic_write_json, naming_errors

STATE_DIR = ".state"
LEDGER = "ledger.jsonl"
RUN = "run.json"


@dataclass
class LedgerState:
    results: dict[str, dict[int, int] | None] = field(default_factory=dict)  # image -> detections per class, or
    # None for an image that could not be used; an image committed twice counts once (its last commit)
    offsets: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    commits: int = 0
    # commits written before per-image results (one writer then too): their images and totals, as they were
    legacy_done: set[str] = field(default_factory=set)
    legacy: Counter = field(default_factory=Counter)
    legacy_classes: Counter = field(default_factory=Counter)

    @property
    def done(self) -> set[str]:
        return set(self.results) | self.legacy_done

    @property
    def ok(self) -> int:
        return sum(r is not None for r in self.results.values()) + self.legacy["ok"]

    @property
    def errors(self) -> int:
        return sum(r is None for r in self.results.values()) + self.legacy["errors"]

    @property
    def images_with_detections(self) -> int:
        return sum(bool(r) for r in self.results.values()) + self.legacy["with_detections"]

    @property
    def per_class(self) -> Counter:
        total = Counter(self.legacy_classes)
        for r in self.results.values():
            total.update(r or {})
        return total


class Ledger:
    def __init__(self, out: Path):
        self.path = out / STATE_DIR / LEDGER
        self.f = None

    def load(self) -> LedgerState:
        st = LedgerState()
        if not self.path.exists():
            return st
        good = 0
        with open(self.path, "rb") as f:
            for raw in f:
                if not raw.endswith(b"\n"):
                    break  # torn last line: that commit never completed
                try:
                    rec = json.loads(raw)
                except json.JSONDecodeError:
                    break
                good += len(raw)
                _add(st, rec)
        if good != self.path.stat().st_size:
            with open(self.path, "r+b") as f:
                f.truncate(good)
        return st

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.f = open(self.path, "ab")

    def append(self, results: dict[str, dict[int, int] | None], offsets: dict[str, int], seconds: float) -> None:
        """One commit: `results` maps each image finished since the last commit to its detections per class (None:
        unusable image)."""
        rec = {"images": list(results), "classes": [None if r is None else {str(k): v for k, v in r.items()}
                                                    for r in results.values()],
               "offsets": offsets, "seconds": round(seconds, 4)}
        with naming_errors(self.path):  # a full disk: the error line names the ledger
            self.f.write((json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8"))
            self.f.flush()
            os.fsync(self.f.fileno())

    def close(self) -> None:
        if self.f is not None:
            self.f.close()
            self.f = None


def _add(st: LedgerState, rec: dict) -> None:
    st.offsets = rec["offsets"]
    st.seconds += rec["seconds"]
    st.commits += 1
    if "classes" in rec:
        for image, classes in zip(rec["images"], rec["classes"]):
            st.results[image] = None if classes is None else {int(k): v for k, v in classes.items()}
        return
    st.legacy_done.update(rec["images"])  # a commit of an earlier version: totals only
    st.legacy.update({"ok": rec["ok"], "errors": rec["errors"], "with_detections": rec["with_detections"]})
    st.legacy_classes.update({int(k): v for k, v in rec["per_class"].items()})


def clear_outputs(out: Path, owned: tuple[str, ...]) -> None:
    """`--overwrite`: remove what a previous run wrote (only the names in `owned`, never other files)."""
    for name in (*owned, STATE_DIR):
        p = out / name
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()


def check_run(out: Path, run: dict, overwrite: bool, owned: tuple[str, ...]) -> bool:
    """Prepare `out` for this run (`owned`: the names a run writes); True when it resumes an earlier one. Without
    `overwrite`, an `out` holding a run with other model/settings, or outputs without a ledger, is a `UserError`."""
    path = out / STATE_DIR / RUN
    if overwrite:
        clear_outputs(out, owned)
    elif path.exists():
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            raise UserError(f"{path} is unreadable; rerun with --overwrite to start {out} over") from None
        diff = [k for k in run if previous.get(k) != run[k]]
        if diff:
            k = diff[0]
            raise UserError(f"{out} holds a run with different {k} ({previous.get(k)!r}, now {run[k]!r}); resume "
                            f"with the same settings, use another --out, or add --overwrite to start over")
        return True
    elif found := [n for n in owned if (out / n).exists()]:
        raise UserError(f"{out} holds {found[0]} but no resume ledger; use another --out or add --overwrite")
    atomic_write_json(path, run)
    return False
