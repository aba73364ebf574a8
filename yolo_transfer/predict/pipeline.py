"""The local engine: decode+letterbox in worker threads, fixed-shape batches to the model, results in input order.

    paths -> [thread pool: read, decode, letterbox] -> bounded window -> batches of `batch` crops -> backend.infer
          -> shared NMS/scale-back -> (tile merge) -> ImageResult, in source order -> the sink's writer thread

Memory stays flat however many images: at most `prefetch` decoded images wait for the model and the sink's queue
is bounded too. `Predictor` holds the model-side half (also used by each Ray actor), `run_local` adds the threads.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Sequence

import numpy as np

from yolo_transfer.detections import Detections
from yolo_transfer.export.standalone import Meta, postprocess, preprocess
from yolo_transfer.predict.backends import Backend
from yolo_transfer.predict.decode import BadImage, read_image
from yolo_transfer.predict.sources import ImageRef
from yolo_transfer.predict.tiling import merge_windows, tile_windows


@dataclass(frozen=True)
class InferenceSettings:
    """Everything besides the model that changes the boxes (recorded with a run so a resume cannot mix them)."""

    conf: float = 0.25
    iou: float = 0.7
    max_det: int = 300
    classes: tuple[int, ...] | None = None
    agnostic: bool = False
    tile: bool = False
    tile_overlap: float = 0.2


@dataclass
class ImageResult:
    ref: ImageRef
    shape: tuple[int, int] | None = None  # (h, w) of the original image
    detections: Detections | None = None
    error: str | None = None
    image: np.ndarray | None = None  # the decoded BGR image, kept only when a writer draws on it


@dataclass
class _Prepared:
    """One decoded image cut into model-input crops (one crop, or tiles + a whole-image pass)."""

    ref: ImageRef
    shape: tuple[int, int] | None = None
    blobs: list[np.ndarray] = field(default_factory=list)
    metas: list[Meta] = field(default_factory=list)
    offsets: list[tuple[int, int]] = field(default_factory=list)
    image: np.ndarray | None = None
    error: str | None = None
    parts: list[Detections | None] = field(default_factory=list)
    left: int = 0


class Predictor:
    """Model-side half of the pipeline: `prepare` is thread-safe, `run` batches prepared images through the model."""

    def __init__(self, backend: Backend, settings: InferenceSettings, keep_images: bool = False):
        self.backend = backend
        self.settings = settings
        self.keep_images = keep_images

    def prepare(self, ref: ImageRef) -> _Prepared:
        p = _Prepared(ref)
        try:
            img = read_image(ref.path)
        except BadImage as e:
            p.error = str(e)
            return p
        h, w = img.shape[:2]
        p.shape = (h, w)
        windows = tile_windows(h, w, self.backend.imgsz, self.settings.tile_overlap) if self.settings.tile else []
        crops = [(img, (0, 0))] + [(img[y0:y1, x0:x1], (x0, y0)) for x0, y0, x1, y1 in windows]
        for crop, offset in crops:
            # One image per preprocess call: the letterbox and float conversion run here, in the worker thread.
            blob, (meta,) = preprocess([crop], self.backend.imgsz)
            p.blobs.append(blob)
            p.metas.append(meta)
            p.offsets.append(offset)
        p.parts = [None] * len(p.blobs)
        p.left = len(p.blobs)
        if self.keep_images:
            p.image = img
        return p

    def _infer(self, crops: Sequence[tuple[_Prepared, int]]) -> None:
        b = self.backend
        x = np.concatenate([p.blobs[k] for p, k in crops])
        if b.fixed_batch and len(x) < b.batch:  # static input: pad the last batch, postprocess ignores the rows
            x = np.concatenate([x, np.zeros((b.batch - len(x), *x.shape[1:]), x.dtype)])
        s = self.settings
        outs = postprocess(b.infer(x), [p.metas[k] for p, k in crops], conf=s.conf, iou=s.iou, max_det=s.max_det,
                           agnostic=s.agnostic, classes=s.classes)
        for (p, k), (xyxy, scores, cids) in zip(crops, outs):
            p.parts[k] = Detections(xyxy, scores, cids)
            p.blobs[k] = None  # free the float input as soon as it is used
            p.left -= 1

    def _finish(self, p: _Prepared) -> ImageResult:
        if p.error is not None:
            return ImageResult(p.ref, error=p.error)
        if len(p.parts) == 1:
            det = p.parts[0]
        else:
            det = merge_windows(p.parts, p.offsets, self.settings.iou, self.settings.max_det)
        return ImageResult(p.ref, p.shape, det.sorted(), image=p.image)

    def run(self, prepared: Iterable[_Prepared]) -> Iterator[ImageResult]:
        """Batch the crops of `prepared` images; yield each image's result, in input order, once all its crops ran."""
        waiting: deque[_Prepared] = deque()
        crops: list[tuple[_Prepared, int]] = []
        size = self.backend.batch

        def drain() -> Iterator[ImageResult]:
            while waiting and waiting[0].left == 0:
                yield self._finish(waiting.popleft())

        for p in prepared:
            waiting.append(p)
            crops.extend((p, k) for k in range(len(p.blobs)))
            while len(crops) >= size:
                self._infer(crops[:size])
                del crops[:size]
            yield from drain()
        if crops:
            self._infer(crops)
        yield from drain()

    def predict_refs(self, refs: Iterable[ImageRef]) -> list[ImageResult]:
        """Serial convenience (used by Ray actors, which get their parallelism from the actor pool)."""
        return list(self.run(self.prepare(r) for r in refs))


def run_local(predictor: Predictor, refs: Sequence[ImageRef], workers: int = 2,
              prefetch: int | None = None) -> Iterator[ImageResult]:
    """Decode in `workers` threads (OpenCV releases the GIL) while the model runs on the batch before."""
    prefetch = prefetch or max(2 * predictor.backend.batch, 4 * workers)
    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="decode") as pool:
        window: deque = deque()

        def prepared() -> Iterator[_Prepared]:
            for ref in refs:
                window.append(pool.submit(predictor.prepare, ref))
                if len(window) >= prefetch:
                    yield window.popleft().result()
            while window:
                yield window.popleft().result()

        try:
            yield from predictor.run(prepared())
        finally:
            for fut in window:  # interrupted: don't decode what nobody will read
                fut.cancel()
