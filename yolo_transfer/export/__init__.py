"""Export for deployment with a parity gate (ONNX, OpenVINO, TensorRT) and a standalone ONNX runner.

Python API (the CLI's `export` and `benchmark` call exactly these):
    export_model(weights, format="onnx", ...) -> ExportResult   # yolo_transfer.export.export
    check_parity(reference_pt, exported, ...) -> ParityReport    # yolo_transfer.export.parity
    benchmark_models([paths], ...) -> BenchmarkReport            # yolo_transfer.export.benchmark
`standalone.py` needs only numpy, OpenCV and onnxruntime: copy it next to your model.
"""

from importlib import import_module

# Resolved on first use so that `yolo-transfer --help` (which imports export.cli) stays fast.
_WHERE = {
    "BenchmarkReport": "benchmark", "benchmark_models": "benchmark", "ExportResult": "export",
    "export_model": "export", "FORMATS": "formats", "get_format": "formats", "THRESHOLDS": "parity",
    "ParityFailed": "parity", "ParityReport": "parity", "check_parity": "parity",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(import_module(f"yolo_transfer.export.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'yolo_transfer.export' has no attribute {name!r}")
