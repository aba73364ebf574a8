"""`yolo-transfer demo`: the whole product on a built-in dataset, offline-safe."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from yolo_transfer.errors import UserError


def run_demo(weights: str = "yolo11n.pt", epochs: int = 3, imgsz: int = 160, project: str = "runs",
             datasets: str | Path = "datasets", echo: Callable[[str], None] = print) -> dict:
    from yolo_transfer.data.synth import SynthSpec, make_synthetic_dataset
    from yolo_transfer.training.api import train
    from yolo_transfer.weights import resolve_weights

    data = make_synthetic_dataset(datasets, SynthSpec(imgsz=imgsz))
    echo(f"dataset: {data} (synthetic surface defects: scratch, spot, crack)")
    try:
        start, preset = str(resolve_weights(weights)), "frozen-backbone"
        echo(f"weights: {start} -> preset {preset}")
    except UserError:
        arch = Path(weights).with_suffix(".yaml").name
        start, preset = arch, "full"
        echo(f"note: no COCO checkpoint at hand ({weights} is not on this machine and cannot be downloaded); "
             f"starting from {arch} (random init) with preset 'full' instead")
    result = train(data=data, weights=start, preset=preset, epochs=epochs, imgsz=imgsz, batch=16, device="cpu",
                   project=project, name="demo", verbose=False, plots=True, workers=0)
    result.raise_for_status()
    rec = result.record
    echo(f"trained {epochs} epoch(s) with '{preset}': {rec.params['total']['trained_at_some_stage']:,} of "
         f"{rec.params['total']['total']:,} parameters; frozen tensors verified: {rec.verification['checked_tensors']}")
    m = result.metrics
    echo(f"val mAP50 {m.get('metrics/mAP50(B)', 0):.3f}, mAP50-95 {m.get('metrics/mAP50-95(B)', 0):.3f}")
    echo(f"run folder: {result.run_dir} (transfer.json, transfer.md, transfer.png, results.png, weights/best.pt)")
    if preset == "full" and start.endswith(".yaml"):
        echo("(a model trained from scratch for a few epochs scores low; with a COCO checkpoint the same steps "
             "give real detections)")

    from yolo_transfer.export.export import export_model

    # a few epochs of training give low scores, so the gate compares boxes from a low floor (else nothing to compare)
    exp = export_model(result.best, "onnx", imgsz=imgsz, data=data, parity_conf=0.05)
    echo(f"exported {exp.path}: {exp.parity.summary()}")
    exp.raise_for_parity()

    from yolo_transfer.predict.api import predict

    images = Path(data).parent / "images" / "val"
    # the demo model is young, so keep low-confidence boxes: the point is to show the outputs, not to filter them
    summary = predict(exp.path, images, result.run_dir / "predictions", formats="jsonl,csv,coco", conf=0.01)
    echo(f"batch inference ({exp.path.name}, ONNX Runtime): {summary.processed}/{summary.images} images, "
         f"{summary.detections} boxes, {summary.images_per_second:.1f} images/s -> {summary.out}")
    return {"data": data, "train": result, "export": exp, "predict": summary}
