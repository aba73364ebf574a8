"""The GPU check: everything the project claims on an NVIDIA GPU, measured in one command against Ultralytics.

    python bench/gpu_check.py --device 0 --out runs/gpu_check            # on a lent GPU (about 8 minutes)
    python bench/gpu_check.py --device cpu --smoke --out /tmp/gpu_check  # every step, tiny, on CPU (CI runs this)

Steps, each recorded in `<out>/gpu_check.json` (and a table in `gpu_check.md`; every subprocess's output in
`gpu_check.log`), a failing step recorded and the next one run:

- `env`: the device, versions, TF32 flags as our `.pt` backend leaves them, which runtimes are present;
- `tests`: the GPU-marked tests (`pytest -m gpu`), which skip themselves where there is no CUDA;
- `train`: `frozen-backbone` and `full` for `--epochs` on `--data` from `--weights`, `yolo-transfer train` against
  `yolo train` with the same frozen layers, AMP on, order alternated: whole-process wall time ratio (goal <= 1.03),
  our freeze verification under AMP, both runs' final mAP50-95;
- `predict`: our `predict` with the trained `.pt` against `yolo predict` on the same device over `--images` images
  (the val images repeated): whole-process images/s ratio (goal >= 3) and box agreement on the first 50 (IoU >= 0.99);
- `precision`: FP16 against FP32 predictions of the `.pt`, judged with the parity gate's FP16 thresholds (a clean
  refusal where the device has no FP16 path, as on a CPU);
- `export`: ONNX and TensorRT export -> parity gate -> predict with the export; a runtime that is absent gives its
  one-line refusal, recorded as such;
- `carry`: what a device call must carry (the tracked project files, and the pure-Python wheels such as ultralytics
  that a bare GPU image may lack), with sizes, against the 64 MiB limit.

With `--smoke` the data are generated (16 images, 64 px), one epoch from `--weights` (or `yolo11n.yaml` without it),
one training pair and one predict pair: it proves each step still runs, not what the GPU does. Numbers are
whole-process figures (start-up included: users pay it). Evidence page: docs/evidence/gpu.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CARRY_LIMIT_MB = 64.0
LIGHT_WHEELS = ("ultralytics", "ultralytics_thop", "click", "yaml", "imagehash", "pywt")  # pure Python or small


class Check:
    """The check's state: where it writes, the settings, and the record of each step."""

    def __init__(self, args: argparse.Namespace):
        self.args, self.out = args, Path(args.out).resolve()
        self.out.mkdir(parents=True, exist_ok=True)
        self.log = open(self.out / "gpu_check.log", "a", encoding="utf-8")
        self.record: dict = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "device": args.device,
                             "smoke": args.smoke, "steps": {}}

    def run(self, cmd: list[str], timeout: float | None = None) -> tuple[int, float, str]:
        """A command as a whole process: exit code, wall seconds, its output (also in the log)."""
        self.log.write(f"\n$ {' '.join(map(str, cmd))}\n")
        self.log.flush()
        t0 = time.perf_counter()
        try:
            p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=self.out,
                               timeout=timeout or self.args.step_timeout)
            code, text = p.returncode, p.stdout + p.stderr
        except subprocess.TimeoutExpired as e:
            code, text = 124, f"timed out after {e.timeout} s"
        seconds = round(time.perf_counter() - t0, 2)
        self.log.write(text + f"\n[exit {code}, {seconds} s]\n")
        self.log.flush()
        return code, seconds, text

    def step(self, name: str, fn) -> None:
        print(f"[{name}] ...", flush=True)
        t0 = time.perf_counter()
        try:
            result = fn(self)
            status = result.pop("status", "ok")
        except Exception as e:  # noqa: BLE001 - one failed step is recorded and the next one runs
            result, status = {"error": f"{type(e).__name__}: {' '.join(str(e).split())[:400]}"}, "failed"
        result.update(status=status, seconds=round(time.perf_counter() - t0, 2))
        self.record["steps"][name] = result
        self.save()
        print(f"[{name}] {status} in {result['seconds']:.0f} s" + (f": {result['error']}" if "error" in result
                                                                    else ""), flush=True)

    def save(self) -> None:
        (self.out / "gpu_check.json").write_text(json.dumps(self.record, indent=2, default=str) + "\n")
        (self.out / "gpu_check.md").write_text(markdown(self.record))


def yolo_cli() -> list[str]:
    """Ultralytics' own `yolo` command, the peer every timing is against."""
    beside = Path(sys.executable).with_name("yolo")
    return [str(beside)] if beside.exists() else [shutil.which("yolo") or "yolo"]


def ours() -> list[str]:
    return [sys.executable, "-m", "yolo_transfer"]


# --------------------------------------------------------------------------------------------------------- steps


def step_env(c: Check) -> dict:
    import torch

    from yolo_transfer.utils.env import versions

    cuda = torch.cuda.is_available()
    info = {"python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
            "versions": versions(), "cuda": cuda, "gpu": torch.cuda.get_device_name(0) if cuda else None,
            "runtimes": _runtimes()}
    if c.args.device != "cpu" and not cuda:
        return {**info, "status": "failed", "error": f"--device {c.args.device}: torch sees no CUDA device"}
    if str(c.weights).endswith(".pt"):
        from yolo_transfer.inference.backends import load_backend

        model = load_backend(Path(c.weights), "pt", device=c.args.device, imgsz=c.imgsz)
        # FP32 is claimed for the .pt: TF32 matmuls round its inputs to 10 bits; the flags as our backend left them
        info["tf32"] = {"matmul": torch.backends.cuda.matmul.allow_tf32, "cudnn": torch.backends.cudnn.allow_tf32,
                        "backend_device": model.device}
    return info


def _runtimes() -> dict:
    out = {}
    try:
        import onnxruntime as ort

        out["onnxruntime"] = {"version": ort.__version__, "providers": ort.get_available_providers()}
    except ImportError:
        out["onnxruntime"] = None
    try:
        import tensorrt

        out["tensorrt"] = tensorrt.__version__
    except ImportError:
        out["tensorrt"] = None
    return out


def step_tests(c: Check) -> dict:
    code, seconds, text = c.run([sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider",
                                 str(ROOT / "tests")], timeout=c.args.step_timeout * 2)
    tail = text.strip().splitlines()[-1] if text.strip() else ""
    # 5: pytest collected nothing (no GPU-marked test here at all): that is a finding, not a pass
    return {"exit": code, "summary": tail, "status": "ok" if code == 0 else "failed"}


def _freeze_list(weights: str, preset: str, epochs: int) -> list[int]:
    """The layers the preset freezes at the start, as Ultralytics' `freeze=[...]` takes them."""
    from yolo_transfer.anatomy import inspect
    from yolo_transfer.presets import make_plan

    return sorted(make_plan(preset, inspect(weights), epochs=epochs).frozen_at(0))


def _train_pair(c: Check, preset: str, first: str) -> dict:
    common = {"epochs": c.epochs, "imgsz": c.imgsz, "batch": c.batch, "device": c.args.device, "seed": 0,
              "workers": c.workers, "amp": True, "plots": False}
    freeze = _freeze_list(c.weights, preset, c.epochs)
    kv = [f"{k}={v}" for k, v in common.items() if k not in ("epochs", "imgsz", "batch", "device", "seed")]
    cmd_ours = [*ours(), "train", "--data", c.data, "--model", c.weights, "--preset", preset, "--epochs", c.epochs,
                "--imgsz", c.imgsz, "--batch", c.batch, "--device", c.args.device, "--project", c.out / "train",
                "--name", f"ours-{preset}", "--quiet", *kv]
    cmd_raw = [*yolo_cli(), "train", f"data={c.data}", f"model={c.weights}", f"project={c.out / 'train'}",
               f"name=raw-{preset}", "exist_ok=False", *(f"{k}={v}" for k, v in common.items()),
               *([f"freeze={freeze}".replace(" ", "")] if freeze else [])]
    runs = {}
    for who in ((first, "raw") if first == "ours" else ("raw", "ours")):
        code, seconds, text = c.run(cmd_ours if who == "ours" else cmd_raw)
        runs[who] = {"exit": code, "seconds": seconds}
        if code != 0:
            runs[who]["error"] = (text.strip().splitlines() or [""])[-1][:300]
    run_ours = _newest(c.out / "train", f"ours-{preset}")
    run_raw = _newest(c.out / "train", f"raw-{preset}")
    rec = json.loads((run_ours / "transfer.json").read_text()) if run_ours and (run_ours / "transfer.json").exists() else {}
    runs["ours"].update(verified=rec.get("verification", {}).get("ok"), status=rec.get("status"),
                        map50_95=_last_map(run_ours), best=str(run_ours / "weights" / "best.pt") if run_ours else None)
    runs["raw"].update(map50_95=_last_map(run_raw))
    ok = runs["ours"]["exit"] == 0 and runs["raw"]["exit"] == 0
    ratio = round(runs["ours"]["seconds"] / runs["raw"]["seconds"], 3) if ok else None
    return {"preset": preset, "frozen_layers": freeze, "first": first, "ours": runs["ours"], "raw": runs["raw"],
            "wall_ratio": ratio}


def _newest(folder: Path, name: str) -> Path | None:
    found = sorted(folder.glob(f"{name}*"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def _last_map(run: Path | None) -> float | None:
    from yolo_transfer.training.results import read_results

    rows = read_results(run) if run else []
    return rows[-1].get("metrics/mAP50-95(B)") if rows else None


def step_train(c: Check) -> dict:
    order = (("frozen-backbone", "ours"), ("full", "raw"))[:1 if c.args.smoke else 2]  # smoke: one pair proves the path
    pairs = [_train_pair(c, p, first) for p, first in order]
    c.trained = next((p["ours"]["best"] for p in pairs if p["ours"].get("best")
                      and Path(p["ours"]["best"]).exists()), None)
    ok = all(p["wall_ratio"] is not None and p["ours"]["verified"] for p in pairs)
    return {"pairs": pairs, "goal_wall_ratio": 1.03, "status": "ok" if ok else "failed"}


def _image_folder(c: Check) -> Path:
    """`--images` images: the dataset's val images repeated (links, or copies where links are refused)."""
    from yolo_transfer.data.yolo_layout import check_data_yaml

    src = check_data_yaml(c.data).require_images("val")
    folder = c.out / "images"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir()
    for i in range(c.images):
        s = Path(src[i % len(src)])
        dst = folder / f"{i:05d}{s.suffix}"
        try:
            dst.symlink_to(s)
        except OSError:
            shutil.copy2(s, dst)
    return folder


def step_predict(c: Check) -> dict:
    model = c.trained or c.weights
    folder = _image_folder(c)
    runs = {}
    rounds = ("ours", "raw") if c.args.smoke else ("ours", "raw", "ours-2", "raw-2")
    for who in rounds:  # alternated, twice: the second pair shows the spread
        if who.startswith("ours"):
            cmd = [*ours(), "predict", model, folder, "--out", c.out / f"predict-{who}", "--device", c.args.device,
                   "--imgsz", c.imgsz, "--conf", c.conf, "--overwrite"]
        else:
            cmd = [*yolo_cli(), "predict", f"model={model}", f"source={folder}", f"device={c.args.device}",
                   f"imgsz={c.imgsz}", f"conf={c.conf}", "save=False", "verbose=False", f"project={c.out / 'yolo-predict'}",
                   f"name={who}"]
        code, seconds, text = c.run(cmd)
        runs[who] = {"exit": code, "seconds": seconds, "images_per_second": round(c.images / seconds, 2)}
    speed = [runs[r]["seconds"] / runs[o]["seconds"] for o, r in (("ours", "raw"), ("ours-2", "raw-2")) if o in runs]
    agree = _agreement(c, model, sorted(folder.iterdir())[:50], c.out / "predict-ours" / "predictions.jsonl")
    ok = all(r["exit"] == 0 for r in runs.values()) and agree["min_iou"] >= 0.99
    return {"images": c.images, "runs": runs, "speed_ratio": [round(s, 3) for s in speed], "goal_speed_ratio": 3.0,
            "agreement": agree, "status": "ok" if ok else "failed"}


def _agreement(c: Check, model: str, images: list[Path], ours_jsonl: Path) -> dict:
    """Our boxes against `YOLO(model).predict` on the same images: matched pairs' IoU, and boxes left unmatched."""
    from ultralytics import YOLO

    from yolo_transfer.detections import Detections, match

    ours_by = {Path(r["image"]).name: r for r in map(json.loads, ours_jsonl.read_text().splitlines())}
    yolo = YOLO(model)
    ious, unmatched = [], 0
    for img in images:
        ref = Detections.from_ultralytics(yolo.predict(str(img), device=c.args.device, verbose=False,
                                                       imgsz=c.imgsz, conf=c.conf)[0])
        got = Detections.from_records(ours_by.get(img.name, {}).get("detections", []))
        ia, ib, iv = match(ref, got)
        ious += [float(v) for v in iv]
        unmatched += len(ref) + len(got) - 2 * len(ia)
    return {"images": len(images), "pairs": len(ious), "min_iou": round(min(ious), 5) if ious else 1.0,
            "unmatched": unmatched}


def step_precision(c: Check) -> dict:
    """FP16 against FP32 predictions of the `.pt`, judged like the parity gate judges an FP16 export."""
    from yolo_transfer.runtimes import THRESHOLDS

    model = c.trained or c.weights
    out = {}
    for prec in ("fp32", "fp16"):
        folder = c.out / f"precision-{prec}"
        code, seconds, text = c.run([*ours(), "predict", model, c.out / "images", "--out", folder, "--device",
                                     c.args.device, "--precision", prec, "--imgsz", c.imgsz, "--conf", c.conf,
                                     "--overwrite"])
        ran = json.loads((folder / "summary.json").read_text())["model"]["precision"] if code == 0 else None
        out[prec] = {"exit": code, "seconds": seconds, "ran_at": ran,
                     "line": (text.strip().splitlines() or [""])[-1][:300]}
    if out["fp16"]["exit"] != 0 or out["fp32"]["exit"] != 0:
        return {**out, "status": "failed"}
    if out["fp16"]["ran_at"] != "fp16":  # a CPU has no FP16 path for a .pt: it ran at FP32, and says so
        return {**out, "status": "n/a"}
    t = THRESHOLDS["fp16"]
    diff = _difference(c.out / "precision-fp32" / "predictions.jsonl", c.out / "precision-fp16" / "predictions.jsonl")
    ok = (diff["min_iou"] >= t.min_iou and diff["max_score_error"] <= t.max_score_error
          and diff["unmatched_fraction"] <= t.max_unmatched_fraction)
    return {**out, "difference": diff, "thresholds": vars(t), "status": "ok" if ok else "failed"}


def _difference(a_jsonl: Path, b_jsonl: Path) -> dict:
    """Matched boxes' least IoU and largest score change between two runs' predictions, and the unmatched share."""
    from yolo_transfer.detections import Detections, match

    def read(p):
        return {r["image"]: Detections.from_records(r["detections"]) for r in map(json.loads, p.read_text().splitlines())}

    a, b = read(a_jsonl), read(b_jsonl)
    ious, errs, unmatched, total = [], [], 0, 0
    for image, da in a.items():
        db = b.get(image, Detections())
        ia, ib, iv = match(da, db)
        ious += [float(v) for v in iv]
        errs += [abs(float(x) - float(y)) for x, y in zip(da.confidence[ia], db.confidence[ib])]
        unmatched += len(da) + len(db) - 2 * len(ia)
        total += len(da) + len(db)
    return {"pairs": len(ious), "min_iou": round(min(ious), 5) if ious else 1.0,
            "max_score_error": round(max(errs), 5) if errs else 0.0,
            "unmatched_fraction": round(unmatched / total, 5) if total else 0.0}


def step_export(c: Check) -> dict:
    model = c.trained or c.weights
    out = {}
    for fmt in ("onnx", "engine"):
        target = c.out / f"export-{fmt}"
        code, seconds, text = c.run([*ours(), "export", model, "--format", fmt, "--device", c.args.device,
                                     "--out-dir", target, "--imgsz", c.imgsz, "--quiet"])
        row = {"exit": code, "seconds": seconds, "line": (text.strip().splitlines() or [""])[-1][:300]}
        built = next((p for p in target.glob("*") if p.suffix in (".onnx", ".engine")), None) if code == 0 else None
        if built is not None:
            pc, ps, pt = c.run([*ours(), "predict", built, c.out / "images", "--out", c.out / f"predict-{fmt}",
                                "--device", c.args.device, "--overwrite"])
            row["predict"] = {"exit": pc, "seconds": ps, "line": (pt.strip().splitlines() or [""])[-1][:300]}
        # only TensorRT may be refused (no CUDA here): ONNX export is a core dependency, so its exit 2 is a failure
        row["status"] = ("ok" if code == 0 and row.get("predict", {}).get("exit") == 0 else
                         "refused" if code == 2 and fmt == "engine" else "failed")
        out[fmt] = row
    failed = [f for f, r in out.items() if r["status"] == "failed"]
    return {**out, "status": "failed" if failed else "ok"}


def step_carry(c: Check) -> dict:
    """What a device call carries: the tracked files of this project, and the light wheels' installed folders."""
    files = subprocess.run(["git", "ls-files"], capture_output=True, text=True, cwd=ROOT).stdout.split()
    project = sum((ROOT / f).stat().st_size for f in files if (ROOT / f).is_file())
    wheels = {}
    for name in LIGHT_WHEELS:
        try:
            mod = __import__(name)
        except ImportError:
            continue
        where = Path(mod.__file__).parent
        wheels[name] = round(sum(p.stat().st_size for p in where.rglob("*") if p.is_file()
                                 and "__pycache__" not in p.parts) / 2**20, 2)
    total = round(project / 2**20 + sum(wheels.values()), 2)
    return {"project_mb": round(project / 2**20, 2), "wheels_mb": wheels, "total_mb": total,
            "limit_mb": CARRY_LIMIT_MB, "status": "ok" if total < CARRY_LIMIT_MB else "failed"}


STEPS = {"env": step_env, "tests": step_tests, "train": step_train, "predict": step_predict,
         "precision": step_precision, "export": step_export, "carry": step_carry}


def markdown(record: dict) -> str:
    lines = [f"# GPU check ({'smoke, ' if record['smoke'] else ''}device {record['device']}, {record['started']})",
             "", "| step | status | seconds | figure |", "|---|---|---:|---|"]
    for name, r in record["steps"].items():
        figure = {"train": lambda: f"wall ratio {[p['wall_ratio'] for p in r.get('pairs', [])]} (goal <= 1.03)",
                  "predict": lambda: f"speed ratio {r.get('speed_ratio')} (goal >= 3), min IoU "
                                     f"{r.get('agreement', {}).get('min_iou')}",
                  "carry": lambda: f"{r.get('total_mb')} MiB of {r.get('limit_mb')}",
                  "env": lambda: f"{r.get('gpu') or 'no GPU'}"}.get(name, lambda: r.get("error", ""))
        try:
            text = figure()
        except Exception:  # noqa: BLE001 - a failed step has no figure
            text = r.get("error", "")
        lines.append(f"| {name} | {r['status']} | {r['seconds']:.0f} | {text} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="0", help="CUDA device (0) or cpu")
    ap.add_argument("--out", default="runs/gpu_check")
    ap.add_argument("--smoke", action="store_true", help="every step, tiny: generated data, yolo11n.yaml, 1 epoch")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "datasets" / "coco128" / "coco128.yaml"))
    ap.add_argument("--weights", default=str(ROOT.parent / "shared" / "weights" / "yolo26n.pt"))
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--images", type=int, default=2048)
    ap.add_argument("--steps", default=",".join(STEPS), help="comma-separated subset of " + ",".join(STEPS))
    ap.add_argument("--step-timeout", type=float, default=240.0, help="seconds any one command may take")
    args = ap.parse_args(argv)
    c = Check(args)
    # every command runs in --out, so a path given relative to here is made absolute (a bare name is left to Ultralytics)
    args.data, args.weights = (str(Path(p).resolve()) if Path(p).exists() else p for p in (args.data, args.weights))
    c.data, c.weights, c.epochs, c.imgsz, c.batch, c.images = (args.data, args.weights, args.epochs, args.imgsz,
                                                               args.batch, args.images)
    c.workers, c.trained, c.conf = 8, None, 0.25
    if args.smoke:
        from yolo_transfer.data.synth import SynthSpec, make_synthetic_dataset

        c.data = str(make_synthetic_dataset(c.out / "data", SynthSpec(train=16, val=8, imgsz=64, seed=0)))
        # the COCO checkpoint where there is one (an architecture YAML trained for one epoch finds no boxes to
        # compare); a low threshold gives the agreement checks boxes on generated images
        pretrained = Path(args.weights)
        c.weights = str(pretrained) if pretrained.is_file() else "yolo11n.yaml"
        c.epochs, c.imgsz, c.batch, c.images, c.workers, c.conf = 1, 64, 8, 16, 0, 0.01
    for name in args.steps.split(","):
        c.step(name, STEPS[name])
    failed = [n for n, r in c.record["steps"].items() if r["status"] == "failed"]
    print(f"report: {c.out / 'gpu_check.md'} (+ gpu_check.json, gpu_check.log)"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
