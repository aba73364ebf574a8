"""--engine ray writes the same outputs as the local engine (on a local Ray instance)."""

from __future__ import annotations

import json

import pytest

from yolo_transfer.inference.api import predict

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'yolo-transfer[distributed]')")
pytest.importorskip("ray.data", reason="Ray Data is not installed (pip install 'ray[data]')")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_engine_matches_local(local_ray, fall_onnx, bad_folder, tmp_path):
    kw = dict(conf=0.05, batch=3, formats="jsonl,csv,coco", device="cpu")
    local = predict(fall_onnx, bad_folder, tmp_path / "local", **kw)
    dist = predict(fall_onnx, bad_folder, tmp_path / "ray", engine="ray", ray_actors=2, **kw)
    for name in ("predictions.jsonl", "predictions.csv", "errors.jsonl", "coco_results.json", "coco_images.json"):
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes(), name
    assert (dist.processed, dist.errors, dist.per_class) == (local.processed, local.errors, local.per_class)
    assert local.processed == 8 and local.errors == 3 and local.detections > 0
    assert json.loads((tmp_path / "ray" / "summary.json").read_text())["settings"]["engine"] == "ray"


def test_actors_take_a_gpu_only_for_a_cuda_run():
    """`--device cpu` on a machine with GPUs keeps every actor on CPUs (Ray used to hand each one a GPU)."""
    from types import SimpleNamespace

    from yolo_transfer.inference.ray_engine import actor_resources

    assert actor_resources(SimpleNamespace(device="cpu"), {"GPU": 2.0, "CPU": 16.0}) == (False, 0)
    assert actor_resources(SimpleNamespace(device="cuda:0"), {"GPU": 2.0}) == (True, 2)
    assert actor_resources(SimpleNamespace(device="cuda:0"), {"CPU": 2.0}) == (False, 0)


def test_ray_engine_on_cpu_reports_cpu(local_ray, fall_onnx, good_folder, tmp_path):
    dist = predict(fall_onnx, good_folder, tmp_path / "ray", engine="ray", ray_actors=1, device="cpu", conf=0.25)
    assert dist.model["device"] == "cpu" and dist.model["precision"] == "fp32" and dist.processed == 8
