"""The README is the front page: at most 15 KB, and its Python example runs as written (on the shared coco8 and the
official checkpoint), printing the trained model's mAP and the export's verdict."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"


def test_readme_fits_on_a_page():
    assert README.stat().st_size <= 15 * 1024, f"README.md is {README.stat().st_size} bytes; the limit is 15 KB"


def _python_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    return next(b for b in blocks if "TransferModel(" in b)


def test_readme_opens_with_the_two_commands():
    text = README.read_text()
    fences = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    assert fences[0].strip() == "bash scripts/setup.sh && .venv/bin/yolo-transfer demo"
    assert fences[1].strip() == "bash scripts/setup.sh && .venv/bin/python -m pytest"
    ci = (REPO / ".ci" / "run").read_text()
    assert "bash scripts/setup.sh" in ci and ".venv/bin/python -m pytest" in ci  # CI runs what the README says


def test_readme_python_example_runs_as_written(coco_weights, coco8_yaml, tmp_path, monkeypatch):
    code = _python_example()
    assert 'TransferModel("yolo26n.pt")' in code and '"coco8.yaml"' in code
    # the only substitutions: where this machine keeps coco8 (Ultralytics would download it to its datasets folder)
    val = coco8_yaml.parent / "images" / "val"
    code = code.replace('"coco8.yaml"', repr(str(coco8_yaml))).replace('"datasets/coco8/images/val"', repr(str(val)))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("YOLO_TRANSFER_WEIGHTS", str(coco_weights.parent))  # yolo26n.pt found, not downloaded
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {"__name__": "__readme__"})
    text = out.getvalue()
    assert re.search(r"mAP50-95 0\.\d{3}", text), text
    assert "frozen layers bit-identical: True" in text
    assert "parity PASSED" in text
    assert "4 images" in text  # coco8's val split
