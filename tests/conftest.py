"""Shared fixtures: generated data (always available) and the real assets in ../shared (skipped where absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("YOLO_TRANSFER_SHARED", REPO.parent / "shared"))

# Keep Ultralytics' settings and any stray run folders out of the user's home and the repo.
os.environ.setdefault("YOLO_CONFIG_DIR", str(REPO / "runs" / ".ultralytics-config"))
os.environ.setdefault("YOLO_OFFLINE", "1")


def _shared(rel: str) -> Path:
    path = SHARED / rel
    if not path.exists():
        pytest.skip(f"real test asset {path} not found (clone with ../shared beside the repo to run this test)")
    return path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return _shared("")


@pytest.fixture(scope="session")
def coco_weights() -> Path:
    """The official Ultralytics YOLO26n COCO checkpoint (80 classes, NMS-free end-to-end head): the brief's own
    `YOLO("yolo26n.pt")`, wherever a test means "a COCO-pretrained model"."""
    return _shared("weights/yolo26n.pt")


@pytest.fixture(scope="session")
def coco26_pt(coco_weights, tmp_path_factory) -> Path:
    """A private copy of yolo26n.pt, so exports land in a temp folder and never beside ../shared."""
    import shutil

    dst = tmp_path_factory.mktemp("yolo26n") / "yolo26n.pt"
    shutil.copy(coco_weights, dst)
    return dst


@pytest.fixture(scope="session")
def coco128_val_images(coco128_dir, tmp_path_factory) -> Path:
    """20 coco128 val2017 images in a folder of their own (parity and head-mode comparisons)."""
    import shutil

    dst = tmp_path_factory.mktemp("coco128-val20")
    for f in sorted((coco128_dir / "images" / "val2017").glob("*.jpg"))[:20]:
        shutil.copy(f, dst / f.name)
    return dst


@pytest.fixture(scope="session")
def coco128_val_yaml(coco128_dir, tmp_path_factory) -> Path:
    """48 coco128 val2017 images with their labels as a small COCO-labelled dataset (train = val), copied so that
    Ultralytics' label caches land in a temp folder."""
    import shutil

    import yaml

    root = tmp_path_factory.mktemp("coco128-val48") / "coco"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for img in sorted((coco128_dir / "images" / "val2017").glob("*.jpg"))[:48]:
        shutil.copy(img, root / "images" / img.name)
        lbl = coco128_dir / "labels" / "val2017" / (img.stem + ".txt")
        if lbl.exists():
            shutil.copy(lbl, root / "labels" / lbl.name)
    names = yaml.safe_load((coco128_dir / "coco128.yaml").read_text())["names"]
    (root / "coco.yaml").write_text(yaml.safe_dump({"path": str(root), "train": "images", "val": "images",
                                                    "names": names}))
    return root / "coco.yaml"


@pytest.fixture(scope="session")
def fall_weights() -> Path:
    """A real third-party YOLOv8s checkpoint (2 classes), standing in for a COCO checkpoint."""
    return _shared("weights/yolov8s-fall.pt")


@pytest.fixture(scope="session")
def coco8_yaml(tmp_path_factory) -> Path:
    """A private copy of coco8 (8 images): Ultralytics writes label caches beside the data, never into ../shared."""
    import shutil

    src = _shared("datasets/coco8")
    dst = tmp_path_factory.mktemp("coco8") / "coco8"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.cache"))
    return dst / "coco8.yaml"


@pytest.fixture(scope="session")
def coco128_dir() -> Path:
    return _shared("datasets/coco128")


@pytest.fixture(scope="session")
def bccd_dir() -> Path:
    return _shared("datasets/BCCD")


@pytest.fixture(scope="session")
def cavity_dir() -> Path:
    return _shared("datasets/cavity_coco")


@pytest.fixture(scope="session")
def synth_yaml(tmp_path_factory) -> Path:
    """A small generated defect dataset (3 classes, 64 px): needs nothing but this repo."""
    from yolo_transfer.data.synth import SynthSpec, make_synthetic_dataset

    root = tmp_path_factory.mktemp("synth")
    return make_synthetic_dataset(root, SynthSpec(train=16, val=8, imgsz=64, seed=0))


@pytest.fixture(scope="session")
def tiny_model(synth_yaml, tmp_path_factory) -> Path:
    """A tiny YOLO11n trained from its YAML for one epoch at 64 px on the synthetic set; returns best.pt."""
    from ultralytics import YOLO

    project = tmp_path_factory.mktemp("tiny-train")
    model = YOLO("yolo11n.yaml")
    model.train(
        data=str(synth_yaml), epochs=1, imgsz=64, batch=8, workers=0, device="cpu", project=str(project),
        name="tiny", plots=False, verbose=False, seed=0, deterministic=True,
    )
    best = project / "tiny" / "weights" / "best.pt"
    assert best.exists()
    return best


@pytest.fixture
def hold_folder():
    """`hold_folder(folder, command="predict", seconds=None)`: another process holding `folder`'s writer lock (for
    `seconds`, or until the test ends or kills it), returned once it holds it."""
    import subprocess
    import sys
    import textwrap

    children = []

    def hold(folder, command: str = "predict", seconds: float | None = None) -> subprocess.Popen:
        script = textwrap.dedent(f"""
            import time
            from yolo_transfer.utils.lock import folder_lock
            with folder_lock({str(folder)!r}, {command!r}):
                print("held", flush=True)
                time.sleep({seconds if seconds is not None else 600})
        """)
        child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        children.append(child)
        assert child.stdout.readline().strip() == "held"
        return child

    yield hold
    for child in children:
        if child.poll() is None:
            child.kill()
        child.wait()
        child.stdout.close()
