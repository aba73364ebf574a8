"""`--engine ray`: the same Predictor on Ray Data, locally or on an existing Ray cluster.

An actor pool maps over the image paths: each actor loads the model once (`Predictor`, the local code path) and
takes a GPU only when the driver's model runs on CUDA. Rows come back in input order to the driver, which writes
them through the same sink, ledger and writers as the local engine, so outputs and resume behave identically. On a
cluster, images and model must be at the same path on every node. Install: `pip install 'yolo-transfer[distributed]'`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from yolo_transfer.detections import Detections
from yolo_transfer.errors import UserError
from yolo_transfer.inference.backends import Backend, is_cuda
from yolo_transfer.inference.pipeline import ImageResult, InferenceSettings
from yolo_transfer.inference.sources import ImageRef


class RayPredictor:
    """One per Ray actor: the model is loaded once in `__init__`, then called for every block of paths."""

    def __init__(self, weights: str, backend: str, imgsz: tuple[int, int], batch: int, settings: dict,
                 device: str | None, precision: str | None = None, end2end: bool | None = None):
        from yolo_transfer.inference.backends import load_backend
        from yolo_transfer.inference.pipeline import Predictor

        model = load_backend(weights, backend, imgsz=imgsz, batch=batch, device=device, precision=precision,
                             end2end=end2end)
        self.predictor = Predictor(model, InferenceSettings(**settings))

    def __call__(self, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        refs = [ImageRef(str(p), str(r)) for p, r in zip(rows["path"], rows["rel"])]
        results = self.predictor.predict_refs(refs)
        dets = [json.dumps([] if r.error is not None else
                           np.concatenate([r.detections.xyxy, r.detections.confidence[:, None],
                                           r.detections.class_id[:, None].astype(np.float32)], 1).tolist())
                for r in results]
        return {"path": rows["path"], "rel": rows["rel"],
                "height": np.array([r.shape[0] if r.shape else -1 for r in results]),
                "width": np.array([r.shape[1] if r.shape else -1 for r in results]),
                "error": np.array(["" if r.error is None else r.error for r in results], dtype=object),
                "dets": np.array(dets, dtype=object)}


def _result(row: dict, keep_image: bool, window=None) -> ImageResult:
    ref = ImageRef(str(row["path"]), str(row["rel"]))
    if row["error"]:
        return ImageResult(ref, error=str(row["error"]))
    a = np.asarray(json.loads(row["dets"]), np.float32).reshape(-1, 6)
    image = None
    if keep_image:  # annotated images / crops are drawn on the driver; re-reading beats shipping pixels back
        from yolo_transfer.utils.imageread import read_image

        image = read_image(ref.path, window)
    return ImageResult(ref, (int(row["height"]), int(row["width"])), Detections(a[:, :4], a[:, 4], a[:, 5]),
                       image=image)


def actor_resources(model: Backend, cluster: dict) -> tuple[bool, int]:
    """(actors take a GPU, GPUs to size the pool by): GPUs only for a run the driver placed on CUDA."""
    gpus = int(cluster.get("GPU", 0))
    use_gpu = bool(gpus) and is_cuda(model.device)
    return use_gpu, gpus if use_gpu else 0


def run_ray(weights: Path, refs: Sequence[ImageRef], model: Backend, settings: InferenceSettings,
            keep_images: bool, address: str | None = None, actors: int | None = None,
            precision: str | None = None, end2end: bool | None = None) -> Iterator[ImageResult]:
    try:
        import ray
        import ray.data
    except ImportError:
        raise UserError("--engine ray needs Ray Data: pip install 'yolo-transfer[distributed]' (ray[data])") from None
    if not refs:
        return
    from yolo_transfer.utils.raycluster import connect

    started = connect(address)
    try:
        use_gpu, gpus = actor_resources(model, ray.cluster_resources())
        n = max(1, actors or gpus or 1)
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True  # results reach the writers in source order, like local
        ctx.enable_progress_bars = False  # ours counts images; Ray's would interleave with it
        s = settings.__dict__.copy()
        ds = ray.data.from_items([{"path": r.path, "rel": r.rel} for r in refs],
                                 override_num_blocks=max(1, min(len(refs) // max(model.batch, 1), 8 * n)))
        ds = ds.map_batches(
            RayPredictor, batch_format="numpy", batch_size=max(model.batch, 1),
            compute=ray.data.ActorPoolStrategy(size=n), num_gpus=1 if use_gpu else 0,
            fn_constructor_kwargs=dict(weights=str(Path(weights).resolve()), backend=model.name,
                                       imgsz=model.imgsz, batch=model.batch, settings=s,
                                       device="0" if use_gpu else "cpu", precision=precision,  # as asked
                                       end2end=model.head == "end2end"),  # the head the driver's model runs
        )
        for row in ds.iter_rows():
            yield _result(row, keep_images, settings.window)
    finally:
        if started:
            ray.shutdown()
