"""The local engine: decode+letterbox in worker threads, same-shape batches to the model, results in input order.

    paths -> [thread pool: read, decode, letterbox] -> bounded window -> shape buckets -> batches of <= `batch`
          -> backend.infer -> shared NMS/scale-back -> (tile merge) -> ImageResult, in source order -> sink thread

A dynamic-shape model gets each image letterboxed to its minimum stride-multiple rectangle, as the `.pt` predictor
does (a 640x480 photo runs at 480x640); images whose rectangles agree are batched together. A bucket runs early (a
partial batch) when the oldest waiting image is in it and more than `hold` images wait, so a rare shape never holds
the output back. Static models keep square batches. Memory stays flat: at most `prefetch` decoded images, `hold`
images in buckets, and a bounded sink queue. `Predictor` is the model-side half (also each Ray actor's).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from yolo_transfer.detections import Detections
from yolo_transfer.options import CONF, IOU
from yolo_transfer.utils.standalone import Meta, letterbox_shape, postprocess, preprocess
from yolo_transfer.inference.backends import Backend
from yolo_transfer.utils.imageread import BadImage, Window, read_image
from yolo_transfer.inference.sources import ImageRef
from yolo_transfer.inference.tiling import merge_windows, tile_windows


@dataclass(frozen=True)
class InferenceSettings:
    """Everything besides the model that changes the boxes (recorded with a run so a resume cannot mix them)."""

    conf: float = CONF
    iou: float = IOU
    max_det: int = 300
    classes: tuple[int, ...] | None = None
    agnostic: bool = False
    tile: bool = False
    tile_overlap: float = 0.2
    window: Window | None = None  # how images above 8 bits map to the model's input (`yolo_transfer.windows`)


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
    crops: list[np.ndarray | None] = field(default_factory=list)  # uint8 views, converted when batched
    blobs: list[np.ndarray | None] = field(default_factory=list)
    metas: list[Meta | None] = field(default_factory=list)
    offsets: list[tuple[int, int]] = field(default_factory=list)
    image: np.ndarray | None = None
    error: str | None = None
    parts: list[Detections | None] = field(default_factory=list)
    left: int = 0  # crops whose detections are not back yet
    queued: int = 0  # crops still sitting in a bucket (not yet sent to the model)


class Predictor:
    """Model-side half of the pipeline: `prepare` is thread-safe, `run` batches prepared images through the model."""

    def __init__(self, backend: Backend, settings: InferenceSettings, keep_images: bool = False,
                 rect: bool | None = None, hold: int | None = None):
        self.backend = backend
        self.settings = settings
        self.keep_images = keep_images
        # Minimum rectangles need a dynamic-shape model; a fixed batch (static ONNX/TensorRT) is square anyway.
        dynamic = bool(getattr(backend, "dynamic_shape", False)) and not backend.fixed_batch
        self.rect = dynamic if rect is None else bool(rect) and dynamic
        self.stride = int(getattr(backend, "stride", 32) or 32)
        # Images that may wait in shape buckets: 4 batches' worth fills batches ~35% better than 2 on coco128's
        # mix of shapes (mean batch 3.7 vs 2.7 at --batch 8) for at most ~32 float blobs (~150 MB at 640).
        self.hold = max(1, hold if hold is not None else 4 * backend.batch)

    def _blob(self, img: np.ndarray) -> tuple[np.ndarray, Meta]:
        """One BGR image -> `(float32 (1,3,h,w) RGB in [0,1], Meta)` by standalone's `preprocess` (one way to
        letterbox); with `rect`, the minimum stride-multiple rectangle inside `imgsz`."""
        x, (meta,) = preprocess([img], self.backend.imgsz, auto=self.rect, stride=self.stride)
        return x, meta

    def _shape_of(self, p: _Prepared, k: int) -> tuple[int, int]:
        """The model input (h, w) crop `k` of `p` will get: the bucket it joins."""
        if p.blobs[k] is not None:
            return p.blobs[k].shape[2:]
        h, w = p.crops[k].shape[:2]
        return letterbox_shape(h, w, self.backend.imgsz, self.rect, self.stride)

    def prepare(self, ref: ImageRef) -> _Prepared:
        p = _Prepared(ref)
        try:
            img = read_image(ref.path, self.settings.window)
        except BadImage as e:
            p.error = str(e)
            return p
        h, w = img.shape[:2]
        p.shape = (h, w)
        windows = tile_windows(h, w, self.backend.imgsz, self.settings.tile_overlap) if self.settings.tile else []
        blob, meta = self._blob(img)  # the whole image, converted here in the worker thread
        p.crops, p.blobs, p.metas, p.offsets = [None], [blob], [meta], [(0, 0)]
        for x0, y0, x1, y1 in windows:
            # Tiles stay uint8 views until their batch: a slide with a thousand tiles must not hold a thousand
            # float copies at once.
            p.crops.append(img[y0:y1, x0:x1])
            p.blobs.append(None)
            p.metas.append(None)
            p.offsets.append((x0, y0))
        p.parts = [None] * len(p.blobs)
        p.left = len(p.blobs)
        if self.keep_images:
            p.image = img
        return p

    def _batch(self, crops: Sequence[tuple[_Prepared, int]]) -> tuple[np.ndarray, list[Meta]]:
        b = self.backend
        for p, k in crops:
            if p.blobs[k] is None:
                p.blobs[k], p.metas[k] = self._blob(p.crops[k])
                p.crops[k] = None
        x = crops[0][0].blobs[crops[0][1]] if len(crops) == 1 else np.concatenate([p.blobs[k] for p, k in crops])
        if b.fixed_batch and len(x) < b.batch:  # static input: pad the last batch, postprocess ignores the rows
            x = np.concatenate([x, np.zeros((b.batch - len(x), *x.shape[1:]), x.dtype)])
        for p, k in crops:
            p.blobs[k] = None  # the batch holds the pixels now; free the per-image copy
        return x, [p.metas[k] for p, k in crops]

    def _model(self, x: np.ndarray, metas: list[Meta]) -> list[tuple]:
        """Model call + NMS; thread-safe, so `backend.streams` batches can run at once."""
        s = self.settings
        return postprocess(self.backend.infer(x), metas, conf=s.conf, iou=s.iou, max_det=s.max_det,
                           agnostic=s.agnostic, classes=s.classes)

    @staticmethod
    def _assign(crops: Sequence[tuple[_Prepared, int]], outs: list[tuple]) -> None:
        for (p, k), (xyxy, scores, cids) in zip(crops, outs):
            p.parts[k] = Detections(xyxy, scores, cids)
            p.left -= 1

    def _finish(self, p: _Prepared) -> ImageResult:
        if p.error is not None:
            return ImageResult(p.ref, error=p.error)
        det = p.parts[0] if len(p.parts) == 1 else merge_windows(p.parts, p.offsets, self.settings.iou,
                                                                  self.settings.max_det)
        return ImageResult(p.ref, p.shape, det.sorted(), image=p.image)

    def run(self, prepared: Iterable[_Prepared]) -> Iterator[ImageResult]:
        """Batch the crops of `prepared` images by input shape; yield each image's result, in input order, once all
        its crops ran."""
        waiting: deque[_Prepared] = deque()
        buckets: dict[tuple[int, int], list[tuple[_Prepared, int]]] = {}
        size, streams = self.backend.batch, max(1, self.backend.streams)
        inflight: deque = deque()  # (crops, future) in submission order, at most `streams` of them
        pool = ThreadPoolExecutor(streams, thread_name_prefix="model") if streams > 1 else None

        def launch(batch: list[tuple[_Prepared, int]]) -> None:
            for p, _ in batch:
                p.queued -= 1
            x, metas = self._batch(batch)
            if pool is None:
                self._assign(batch, self._model(x, metas))
            else:
                inflight.append((batch, pool.submit(self._model, x, metas)))

        def settle(limit: int) -> Iterator[ImageResult]:
            # Results are assigned here, in the feeding thread and in order, so no bookkeeping is shared.
            while len(inflight) > limit:
                batch, fut = inflight.popleft()
                self._assign(batch, fut.result())
            while waiting and waiting[0].left == 0:
                yield self._finish(waiting.popleft())

        def flush_oldest() -> None:
            # The oldest waiting image blocks every result behind it: run its buckets now, partial or not.
            head = waiting[0]
            for key in [key for key, crops in buckets.items() if any(p is head for p, _ in crops)]:
                launch(buckets.pop(key))

        try:
            for p in prepared:
                waiting.append(p)
                p.queued = len(p.blobs)
                for k in range(len(p.blobs)):
                    key = self._shape_of(p, k)
                    bucket = buckets.setdefault(key, [])
                    bucket.append((p, k))
                    if len(bucket) >= size:
                        launch(buckets.pop(key))
                        yield from settle(streams - 1)
                while len(waiting) > self.hold and waiting[0].queued:
                    flush_oldest()
                    yield from settle(streams - 1)
                yield from settle(streams - 1)
            while buckets:
                if waiting and waiting[0].queued:
                    flush_oldest()
                else:
                    launch(buckets.pop(next(iter(buckets))))
                yield from settle(streams - 1)
            yield from settle(0)
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    def predict_refs(self, refs: Iterable[ImageRef]) -> list[ImageResult]:
        """Serial convenience (used by Ray actors, which get their parallelism from the actor pool)."""
        return list(self.run(self.prepare(r) for r in refs))


def run_local(predictor: Predictor, refs: Sequence[ImageRef], workers: int = 2,
              prefetch: int | None = None) -> Iterator[ImageResult]:
    """Decode in `workers` threads (OpenCV releases the GIL) while the model runs on the batch before."""
    if prefetch is None:
        # Tiled (very large) images: a few decoded at a time. A CPU model takes ~100x longer per image than decoding:
        # a few ahead keep it fed (a blob is up to 4.9 MB at 640); an accelerator gets two batches ahead.
        if predictor.settings.tile:
            prefetch = workers + 1
        elif predictor.backend.device == "cpu":
            prefetch = 4 * workers
        else:
            prefetch = max(2 * predictor.backend.batch, 4 * workers)
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
