"""Backbone / neck / head of any Ultralytics detection model, read from the model's own YAML.

The backbone is the first `len(yaml["backbone"])` layers, the head is the `Detect` layer (the last one), and the
neck is everything in between. No hard-coded indices, so YOLOv8, YOLO11, YOLO26 and custom YAMLs all work.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yolo_transfer.errors import UserError

PARTS = ("backbone", "neck", "head")


@dataclass(frozen=True)
class Layer:
    """One layer of the model: its index, module type, part (backbone, neck or head) and parameter count."""

    index: int
    module: str
    part: str
    params: int


@dataclass(frozen=True)
class Anatomy:
    """Backbone / neck / head of a detection model, from its own YAML: `indices(part)`, `params_per_part()`."""

    layers: tuple[Layer, ...]
    yaml_file: str = ""
    scale: str = ""

    @classmethod
    def of(cls, model: Any) -> "Anatomy":
        """From a `DetectionModel` (or an Ultralytics `YOLO` wrapper)."""
        from ultralytics.nn.modules.head import Detect

        model = getattr(model, "model", model) if not hasattr(model, "yaml") else model
        yaml = getattr(model, "yaml", None)
        layers = getattr(model, "model", None)
        if not isinstance(yaml, dict) or "backbone" not in yaml or layers is None or not isinstance(layers[-1], Detect):
            raise UserError("not an Ultralytics detection model: its last layer is not a Detect head")
        task = _task(model)
        if task != "detect":  # Segment, Pose and OBB heads subclass Detect: their extra branches are not ours to train
            raise UserError(f"a {task} model ({type(layers[-1]).__name__} head); yolo-transfer trains detection "
                            f"models: start from a detection checkpoint or YAML such as yolo26n.pt or yolo26n.yaml")
        n_backbone = len(yaml["backbone"])
        head_index = len(layers) - 1
        out = []
        for i, m in enumerate(layers):
            part = "backbone" if i < n_backbone else "head" if i == head_index else "neck"
            out.append(Layer(i, type(m).__name__, part, sum(p.numel() for p in m.parameters())))
        return cls(tuple(out), str(yaml.get("yaml_file", "")), str(yaml.get("scale", "")))

    def indices(self, *parts: str) -> list[int]:
        for p in parts:
            if p not in PARTS and p != "all":
                raise UserError(f"unknown model part '{p}'; use one of {', '.join(PARTS)} or all")
        return [l.index for l in self.layers if "all" in parts or l.part in parts]

    def part_of(self, index: int) -> str:
        return self.layers[index].part

    def params_per_part(self) -> dict[str, int]:
        return {p: sum(l.params for l in self.layers if l.part == p) for p in PARTS}

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def head_index(self) -> int:
        return self.layers[-1].index

    def to_dict(self) -> dict:
        return {"yaml_file": self.yaml_file, "scale": self.scale, "parts": {p: self.indices(p) for p in PARTS},
                "params": self.params_per_part()}


def _task(model) -> str:
    from ultralytics.nn.tasks import guess_model_task

    try:
        return guess_model_task(model)
    except Exception:  # noqa: BLE001 - an unusual module tree: its Detect head (checked above) decides
        return "detect"


def load_detection_model(spec: str | Path, download: bool = True):
    """Load a checkpoint or build from YAML; return the Ultralytics `YOLO` object. Errors are one line."""
    from yolo_transfer.weights import resolve_model

    resolved = resolve_model(spec, download=download)
    from ultralytics import YOLO  # after a bad path's one line, which needs no Ultralytics

    try:
        yolo = YOLO(resolved)  # a YAML's task comes from its head: a -seg/-pose/-obb YAML is not a detector
    except UserError:
        raise
    except FileNotFoundError as e:
        raise UserError(f"model '{spec}' not found: {e}")
    except Exception as e:  # unpickling garbage, truncated files, YAMLs Ultralytics cannot parse
        from yolo_transfer.safeload import refusal

        raise refusal(e, resolved) or UserError(f"cannot load model '{spec}': {type(e).__name__}: {e}") from None
    if yolo.task != "detect":
        raise UserError(f"'{spec}' is a {yolo.task} model; yolo-transfer trains detection models: start from a "
                        f"detection checkpoint or YAML such as yolo26n.pt or yolo26n.yaml")
    try:
        Anatomy.of(yolo.model)  # raises UserError when the last layer is not a plain Detect head
    except UserError as e:
        raise UserError(f"'{spec}': {e}") from None
    return yolo


def inspect_model(spec: str | Path) -> tuple[Anatomy, Any]:
    """The anatomy and the loaded Ultralytics `YOLO` (for callers that need the model too)."""
    yolo = load_detection_model(spec)
    return Anatomy.of(yolo.model), yolo


def inspect(model: str | Path, *, trust_checkpoint: bool = False) -> Anatomy:
    """Backbone / neck / head of `model` (a checkpoint, an Ultralytics name or an architecture YAML), read from the
    model's own YAML, with parameter counts per layer: what `yolo-transfer inspect` prints. A checkpoint loads
    restricted unless `trust_checkpoint` (`yolo_transfer.safeload.scan` lists what it references)."""
    from yolo_transfer import safeload

    with safeload.loading(trust_checkpoint):
        return inspect_model(model)[0]
