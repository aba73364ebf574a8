"""`benchmark_models`: model-only latency/throughput per batch size, and end-to-end time per image, per format.

Model-only times the backend's forward pass on a prepared tensor (no decode, letterbox or NMS), so formats are
compared on what the runtime does. End-to-end times `YOLO(...).predict` on real image files one at a time: read,
letterbox, forward, NMS and scaling, i.e. what a user waits for per image.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

from yolo_transfer import safeload
from yolo_transfer.errors import UserError
from yolo_transfer.exporter.parity import collect_images
from yolo_transfer.runtimes import built_precision, pinning, ran_at, runtime_of_path
from yolo_transfer.utils.io import atomic_write_json, atomic_write_text
from yolo_transfer.utils.progress import progress


@dataclass
class ModelOnly:
    batch: int
    latency_ms: float | None  # median per forward pass
    throughput_ips: float | None  # images per second
    note: str = ""


@dataclass
class ModelBenchmark:
    model: str
    format: str
    imgsz: list[int]
    dynamic: bool
    precision: str = "fp32"  # what the runtime really computed at (OpenVINO: read back from the compiled model)
    model_only: list[ModelOnly] = field(default_factory=list)
    end_to_end_ms: float | None = None  # median per image
    end_to_end_images: int = 0


@dataclass
class BenchmarkReport:
    device: str
    runs: int
    results: list[ModelBenchmark]

    def to_dict(self) -> dict:
        return {"device": self.device, "runs": self.runs, "results": [asdict(r) for r in self.results]}

    def to_markdown(self) -> str:
        batches = sorted({m.batch for r in self.results for m in r.model_only})
        head = (["model", "format", "precision", "input", "imgsz"] + [f"b{b} ms (img/s)" for b in batches]
                + ["end-to-end ms/img"])
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in self.results:
            cells = {m.batch: (f"{m.latency_ms:.2f} ({m.throughput_ips:.1f})" if m.latency_ms is not None
                               else m.note or "n/a") for m in r.model_only}
            row = [Path(r.model).name, r.format, r.precision.upper(), "dynamic" if r.dynamic else "static",
                   "x".join(map(str, r.imgsz))]
            row += [cells.get(b, "n/a") for b in batches]
            row.append(f"{r.end_to_end_ms:.2f}" if r.end_to_end_ms is not None else "n/a")
            lines.append("| " + " | ".join(row) + " |")
        return "\n".join(lines) + "\n"

    def write(self, path: Path) -> Path:
        path = Path(path)
        atomic_write_text(path.with_suffix(".md"), self.to_markdown())
        return atomic_write_json(path, self.to_dict())


def _time(fn, runs: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000.0


def benchmark_one(path: Path, imgsz: int, batch_sizes: Sequence[int], images: Sequence[Path], runs: int,
                  warmup: int, device: str, precision: str | None = None) -> ModelBenchmark:
    import torch
    from ultralytics import YOLO

    runtime = runtime_of_path(path)
    fmt = runtime.name
    built = built_precision(path)
    run_at = runtime.run_precision(built, precision)
    model = YOLO(str(path), task="detect")
    files = [str(p) for p in images]
    with pinning(runtime, run_at):  # the model is compiled here, at the precision it claims (or the one asked)
        model.predict(files[0], imgsz=imgsz, device=device, verbose=False)  # sets up the predictor: not timed
    e2e = []
    for i in range(max(runs, len(files))):
        t = time.perf_counter()
        model.predict(files[i % len(files)], imgsz=imgsz, device=device, verbose=False)
        e2e.append((time.perf_counter() - t) * 1000.0)
    backend = model.predictor.model
    dynamic = bool(getattr(backend, "dynamic", False)) or fmt == "pt"
    shape = list(getattr(backend, "imgsz", None) or model.predictor.imgsz)
    if dynamic:
        shape = [imgsz, imgsz] if isinstance(imgsz, int) else list(imgsz)
    static_batch = None if dynamic else int(getattr(backend, "batch", 1) or 1)
    out = ModelBenchmark(str(path), fmt, shape, dynamic, precision=ran_at(backend, fallback=run_at, built=built),
                         end_to_end_ms=round(statistics.median(e2e), 3), end_to_end_images=len(e2e))
    for b in batch_sizes:
        if static_batch is not None and b != static_batch:
            out.model_only.append(ModelOnly(b, None, None, f"static batch {static_batch}"))
            continue
        x = torch.zeros(b, 3, *shape, device=backend.device)
        if getattr(backend, "fp16", False):
            x = x.half()
        with torch.inference_mode():
            ms = _time(lambda: backend(x), runs, warmup)
        out.model_only.append(ModelOnly(b, round(ms, 3), round(b * 1000.0 / ms, 2)))
    return out


@safeload.loading(None)  # a .pt loads restricted, with our allow-list, as in every other command
def benchmark_models(models: Sequence[str | Path], *, imgsz: int = 640, batch_sizes: Sequence[int] = (1, 4, 8),
                     images: str | Path | None = None, max_images: int = 8, runs: int = 10, warmup: int = 2,
                     device: str = "cpu", out: str | Path | None = None,
                     precision: str | None = None) -> BenchmarkReport:
    """Benchmark each model (.pt, .onnx, *_openvino_model, .engine); optionally write JSON + Markdown to `out`.

    Each runs at the precision it was built at; `precision="bf16"` runs OpenVINO models at bf16 instead."""
    paths = [Path(m) for m in models]
    for p in paths:
        if not p.exists():
            raise UserError(f"model {p} not found: pass .pt, .onnx, .engine files or *_openvino_model folders")
        runtime = runtime_of_path(p)
        runtime.check_installed(f"{p}: benchmarking it")
        if runtime.needs_cuda:
            import torch

            if not torch.cuda.is_available():
                raise UserError(f"{p}: a {runtime.title} model needs an NVIDIA GPU with CUDA, and none is visible here")
    if any(b < 1 for b in batch_sizes):
        raise UserError(f"batch sizes must be >= 1 (got {list(batch_sizes)})")
    files, _ = collect_images(images, None, max_images)
    results = []
    for p in progress(paths, desc="benchmark", unit="model"):
        runtime = runtime_of_path(p)
        dev = runtime.export_device if runtime.needs_cuda else device
        asked = precision if precision in runtime.runs_at and runtime.name == "openvino" else None
        results.append(benchmark_one(p, imgsz, batch_sizes, files, runs, warmup, dev, asked))
    report = BenchmarkReport(device=device, runs=runs, results=results)
    if out is not None:
        report.write(Path(out))
    return report
