"""The demo, end to end at a smaller budget: from the official COCO checkpoint when it is at hand, and offline from
the project's own source model; quiet, and it works."""

import json

from click.testing import CliRunner

from yolo_transfer.cli import main


def test_demo_transfers_offline_from_its_own_source_model(tmp_path, monkeypatch):
    import yolo_transfer.demo as demo
    import yolo_transfer.weights as weights
    from yolo_transfer.data.synth import SourceSpec
    from yolo_transfer.source_model import SourceRecipe, source_model

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    monkeypatch.setenv("YOLO_TRANSFER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(weights, "search_dirs", lambda: [])  # no yolo26n.pt anywhere: the offline path
    # a smaller budget than the real demo (64 px, fewer images and epochs); same steps
    recipe = SourceRecipe(spec=SourceSpec(train=400, val=16, imgsz=64), epochs=8)
    monkeypatch.setattr(demo, "SOURCE_RECIPE", recipe)
    out = CliRunner().invoke(main, ["demo", "--epochs", "4", "--imgsz", "64", "--conf", "0.05"])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert len(lines) <= 60, out.output  # quiet: Ultralytics' own output went to log.txt
    assert "no COCO checkpoint at hand" in out.output and "pretrained now" in out.output
    run = tmp_path / "runs" / "demo"
    assert "Ultralytics" in (run / "log.txt").read_text()  # ... and is there
    numbers = json.loads((run / "demo.json").read_text())
    print("demo numbers:", json.dumps({k: numbers[k] for k in ("trials", "scratch", "predict", "seconds")}))
    assert numbers["start_kind"] == "source"
    # a compare of two strategies at one budget, plus the baseline from random weights, in one table
    assert set(numbers["trials"]) == {"frozen-backbone", "full"}
    assert sum(("frozen-backbone_s0" in ln or "full_s0" in ln or "scratch" in ln) for ln in lines) >= 3
    summary = json.loads((run / "compare" / "summary.json").read_text())
    assert summary["winner"]["preset"] == numbers["winner"]
    # transfer works where random init does not, at the same budget
    transferred = max(t["mAP50"] for t in numbers["trials"].values())
    # measured: 0.076 vs 0.000 (AMD EPYC), 0.027 vs 0.000 (Intel Xeon with AMX): the home-made source is weak by design
    assert transferred > max(2 * numbers["scratch"]["mAP50"], numbers["scratch"]["mAP50"] + 0.01), numbers
    assert numbers["export"]["parity_passed"]
    assert numbers["predict"]["processed"] == numbers["predict"]["images"] == 40
    assert numbers["predict"]["boxes"] > 0
    # the source model was cached: the next run reuses it instead of pretraining again
    again = source_model(recipe)
    assert again.cached and again.path.parent == tmp_path / "cache"
    from yolo_transfer.source_model import cached_path

    assert cached_path(SourceRecipe(spec=recipe.spec, epochs=5)) != again.path  # another recipe, another model


def test_demo_starts_from_the_official_coco_checkpoint_when_it_is_at_hand(coco_weights, tmp_path, monkeypatch):
    """With yolo26n.pt in $YOLO_TRANSFER_WEIGHTS the demo transfers from COCO, and the baseline is the same network
    (yolo26n.yaml) from random weights."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("YOLO_TRANSFER_WEIGHTS", str(coco_weights.parent))
    out = CliRunner().invoke(main, ["demo", "--epochs", "2", "--imgsz", "64"])
    assert out.exit_code == 0, out.output
    assert "2. start: COCO checkpoint" in out.output and "baseline: yolo26n.yaml" in out.output
    assert "pretrained now" not in out.output  # no home-made source model was built
    numbers = json.loads((tmp_path / "runs" / "demo" / "demo.json").read_text())
    assert numbers["start_kind"] == "coco" and numbers["start"] == str(coco_weights)
    transferred = max(t["mAP50"] for t in numbers["trials"].values())
    assert transferred > numbers["scratch"]["mAP50"] + 0.2, numbers  # measured: 0.710 vs 0.000
    winner = [ln for ln in out.output.splitlines() if ln.startswith("winner:")]
    assert winner and "from scratch" in winner[0]
    assert numbers["export"]["parity_passed"] and numbers["predict"]["processed"] == 40
