"""A pretrained starting point the project makes itself, for machines without a COCO checkpoint.

Transfer learning needs a source model. Offline (CI machines, air-gapped plants, hospitals) `yolo11n.pt` cannot be
downloaded, so the demo pretrains YOLO11n once on a generated *source* domain (`SourceSpec`: eight object kinds with
their own shapes, colours and textures on varied backgrounds with unlabelled clutter, a stand-in for COCO) and
caches the checkpoint. Later runs reuse it.

Cache: `$YOLO_TRANSFER_CACHE`, else `$XDG_CACHE_HOME/yolo-transfer`, else `~/.cache/yolo-transfer`. The file name
carries a hash of the recipe (generator spec, training settings) and of the library versions that shape the result,
so a change to either builds a new one instead of reusing a stale one. The checkpoint and its JSON card are written
atomically (temporary file, then rename): an interrupted build leaves nothing that looks finished.

It is a small model trained for about two minutes: far weaker than a COCO checkpoint, but it has learnt what a
detector carries to a new domain (edges, thin lines, blobs, object versus background, a working box regressor).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from yolo_transfer.data.synth import SourceSpec
from yolo_transfer.utils.env import cache_dir
from yolo_transfer.utils.io import atomic_write_bytes, atomic_write_json

RECIPE_VERSION = 1


@dataclass(frozen=True)
class SourceRecipe:
    """How the source model is made: the generated data and the training settings (all of it goes into the key)."""

    spec: SourceSpec = SourceSpec()
    model: str = "yolo11n.yaml"
    epochs: int = 8
    # From scratch, many small optimizer steps learn fastest in a short budget: batch 8 with nbs 8 (a step per
    # batch, no gradient accumulation), AdamW at a fixed lr, no warm-up (warm-up would take the whole budget).
    train_args: Mapping = field(default_factory=lambda: {"batch": 8, "nbs": 8, "optimizer": "AdamW", "lr0": 0.002,
                                                         "warmup_epochs": 0, "seed": 0})

    def manifest(self) -> dict:
        from yolo_transfer.utils.env import versions

        v = versions()
        return {"recipe": RECIPE_VERSION, "spec": self.spec.manifest(), "model": self.model, "epochs": self.epochs,
                "train_args": dict(self.train_args),
                "versions": {k: v.get(k) for k in ("ultralytics", "torch", "yolo-transfer")}}

    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.manifest(), sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class SourceModel:
    path: Path
    cached: bool  # True: reused from the cache; False: built by this call
    card: dict  # what was trained and how well it does on its own val set

    @property
    def summary(self) -> str:
        m = self.card.get("metrics", {})
        how = "reused from cache" if self.cached else f"pretrained now in {self.card.get('seconds', 0):.0f} s, cached"
        return (f"source model ({how}): YOLO11n on {self.card['spec']['train']} generated images of "
                f"{len(self.card['names'])} object kinds, source val mAP50 {m.get('mAP50', 0):.2f} -> {self.path}")


def cached_path(recipe: SourceRecipe = SourceRecipe()) -> Path:
    return cache_dir() / f"source-{recipe.key()}.pt"


def source_model(recipe: SourceRecipe = SourceRecipe(), device: str = "cpu", callbacks: Mapping[str, Callable] | None = None,
                 verbose: bool = False, on_build: Callable[[str], None] | None = None) -> SourceModel:
    """The cached source checkpoint for `recipe`, pretraining it first if it is not in the cache yet.

    `on_build` (a one-line message) is called before a build starts, so a caller can say why it waits.
    """
    from yolo_transfer.data.synth import SOURCE_CLASSES, make_synthetic_dataset
    from yolo_transfer.training.api import train_preset

    path = cached_path(recipe)
    card_path = path.with_suffix(".json")
    if path.is_file() and card_path.is_file():
        return SourceModel(path, True, json.loads(card_path.read_text()))
    if on_build:
        on_build(f"no source model in {path.parent} yet: pretraining {Path(recipe.model).stem} once on "
                 f"{recipe.spec.train} generated images ({recipe.epochs} epochs; later runs reuse it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=path.parent))
    try:
        data = make_synthetic_dataset(work / "data", recipe.spec)
        t0 = time.time()
        result = train_preset(recipe.model, data, preset="full", epochs=recipe.epochs, imgsz=recipe.spec.imgsz,
                       device=device, project=work, name="train", verbose=verbose, callbacks=callbacks,
                       val=False, plots=False, workers=0, cache="ram", **dict(recipe.train_args))
        result.raise_for_status()
        fv = result.record.final_val or {}
        m = result.metrics
        card = {"format": "yolo-transfer/source-model@1", **recipe.manifest(), "key": recipe.key(),
                "names": list(SOURCE_CLASSES), "seconds": round(time.time() - t0, 1),
                "metrics": {"mAP50": float(fv.get("mAP50", m.get("metrics/mAP50(B)", 0.0))),
                            "mAP50-95": float(fv.get("mAP50-95", m.get("metrics/mAP50-95(B)", 0.0)))}}
        best = result.best or result.last
        atomic_write_bytes(path, best.read_bytes())
        atomic_write_json(card_path, card)  # written last: the card's presence says the checkpoint is complete
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return SourceModel(path, False, card)
