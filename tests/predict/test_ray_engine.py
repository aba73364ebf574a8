"""--engine ray writes the same outputs as the local engine (on a local Ray instance)."""

from __future__ import annotations

import json

import pytest

from yolo_transfer.predict.api import predict

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'yolo-transfer[distributed]')")
pytest.importorskip("ray.data", reason="Ray Data is not installed (pip install 'ray[data]')")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_engine_matches_local(local_ray, fall_onnx, bad_folder, tmp_path):
    kw = dict(conf=0.05, batch=3, formats="jsonl,csv,coco")
    local = predict(fall_onnx, bad_folder, tmp_path / "local", **kw)
    dist = predict(fall_onnx, bad_folder, tmp_path / "ray", engine="ray", ray_actors=2, **kw)
    for name in ("predictions.jsonl", "predictions.csv", "errors.jsonl", "coco_results.json", "coco_images.json"):
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes(), name
    assert (dist.processed, dist.errors, dist.per_class) == (local.processed, local.errors, local.per_class)
    assert local.processed == 8 and local.errors == 3 and local.detections > 0
    assert json.loads((tmp_path / "ray" / "summary.json").read_text())["settings"]["engine"] == "ray"
