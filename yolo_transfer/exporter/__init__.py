"""Export for deployment with a parity gate (ONNX, OpenVINO, TensorRT) and a standalone ONNX runner.

Python API (the CLI's `export` and `benchmark` call exactly these):
    export(model, format="onnx", ...) -> ExportResult           # yolo_transfer.exporter.api
    check_parity(reference_pt, exported, ...) -> ParityReport    # yolo_transfer.exporter.parity
    benchmark_models([paths], ...) -> BenchmarkReport            # yolo_transfer.exporter.benchmark
`standalone.py` needs only numpy, OpenCV and onnxruntime: copy it next to your model.
"""

from importlib import import_module

# Resolved on first use so that `yolo-transfer --help` (which imports export.cli) stays fast.
_WHERE = {
    "BenchmarkReport": "benchmark", "benchmark_models": "benchmark", "ExportResult": "api",
    "export": "api", "FORMATS": "formats", "get_format": "formats", "THRESHOLDS": "parity",
    "ParityFailed": "parity", "ParityReport": "parity", "check_parity": "parity",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(import_module(f"yolo_transfer.exporter.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'yolo_transfer.exporter' has no attribute {name!r}")
