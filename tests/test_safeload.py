"""Checkpoints load restricted: a planted one runs no code in any command; every checkpoint we make still loads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from yolo_transfer import safeload
from yolo_transfer import verdicts as verdicts_module
from yolo_transfer.cli import main


class _Plant:
    """Unpickling this runs `touch <marker>`: the malicious payload of a planted checkpoint."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _official(tiny_model) -> dict:
    return torch.load(tiny_model, map_location="cpu", weights_only=False)  # our own file: trusted here


def _plant(where: str, tiny_model: Path, out: Path, marker: Path) -> Path:
    if where == "model":
        ckpt = {"model": _Plant(marker), "train_args": {}}
    else:
        ckpt = _official(tiny_model)
        if where == "train_args":
            ckpt["train_args"] = {**(ckpt.get("train_args") or {}), "callbacks": _Plant(marker)}
        elif where == "optimizer":
            ckpt["optimizer"] = {"state": {0: {"step": _Plant(marker)}}, "param_groups": []}
        else:  # "inside": deep in an otherwise real model's module tree
            (ckpt.get("ema") or ckpt["model"]).model[-1].note = _Plant(marker)
    path = out / f"planted-{where}.pt"
    torch.save(ckpt, path)
    return path


@pytest.fixture
def marker(tmp_path) -> Path:
    return tmp_path / "MARKER"


PLANTS = ["model", "train_args", "optimizer", "inside"]


@pytest.mark.parametrize("where", PLANTS)
def test_a_planted_checkpoint_is_refused_by_predict_before_any_of_it_runs(where, tiny_model, synth_yaml, tmp_path,
                                                                          marker):
    planted = _plant(where, tiny_model, tmp_path, marker)
    out = tmp_path / "pred"
    r = CliRunner().invoke(main, ["predict", str(planted), str(synth_yaml.parent / "images" / "val"), "--out",
                                  str(out)])
    assert r.exit_code == 2, r.output
    assert not marker.exists()  # nothing of the file ran
    assert not out.exists()  # nothing half-written
    line = r.output.strip()
    assert "\n" not in line and f"{planted}: refused" in line and "posix.system" in line and "--trust-checkpoint" in line


COMMANDS = {
    "inspect": lambda p, d, o: ["inspect", p],
    "presets": lambda p, d, o: ["presets", p],
    "train": lambda p, d, o: ["train", "--data", d, "--model", p, "--epochs", "1", "--imgsz", "64", "--device", "cpu",
                              "--project", o],
    "train-auto": lambda p, d, o: ["train", "--data", d, "--model", p, "--preset", "auto", "--epochs", "6",
                                   "--imgsz", "64", "--device", "cpu", "--project", o],
    "compare": lambda p, d, o: ["compare", "--data", d, "--model", p, "--epochs", "1", "--imgsz", "64", "--device",
                                "cpu", "--project", o],
    "recommend": lambda p, d, o: ["recommend", "--data", d, "--model", p, "--device", "cpu", "--images", "4"],
    "export": lambda p, d, o: ["export", p, "--format", "onnx", "--out-dir", o],
    "predict": lambda p, d, o: ["predict", p, str(Path(d).parent / "images" / "val"), "--out", o],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_no_command_runs_a_planted_checkpoint(command, tiny_model, synth_yaml, tmp_path, marker):
    planted = _plant("train_args", tiny_model, tmp_path, marker)
    out = tmp_path / "out"
    r = CliRunner().invoke(main, COMMANDS[command](str(planted), str(synth_yaml), str(out)))
    assert r.exit_code == 2, r.output
    assert not marker.exists()
    assert "refused" in r.output and "posix.system" in r.output
    assert not out.exists() or not any(out.rglob("*")), sorted(out.rglob("*"))


def test_trust_checkpoint_is_the_explicit_opt_out(tiny_model, synth_yaml, tmp_path, marker, monkeypatch):
    """The plant is real: trusted, its payload runs (which is why trusting is for vetted files only)."""
    planted = _plant("train_args", tiny_model, tmp_path, marker)
    r = CliRunner().invoke(main, ["inspect", str(planted), "--trust-checkpoint"])
    assert marker.exists() and r.exit_code == 0, r.output
    marker.unlink()
    monkeypatch.setenv(safeload.TRUST_ENV, "1")
    assert CliRunner().invoke(main, ["inspect", str(planted)]).exit_code == 0 and marker.exists()
    monkeypatch.delenv(safeload.TRUST_ENV)
    assert safeload.is_restricted()  # the opt-out ended with the command


def test_inspect_lists_the_globals_and_names_the_unexpected_one(tiny_model, tmp_path, marker):
    planted = _plant("inside", tiny_model, tmp_path, marker)
    scan = safeload.scan(planted)
    assert not scan.passes and scan.unexpected == ["posix.system"] and "posix.system" in scan.globals
    assert any(g.startswith("ultralytics.nn.modules.") for g in scan.globals)
    r = CliRunner().invoke(main, ["inspect", str(planted)])
    assert r.exit_code == 2 and "not allowed: posix.system" in r.output and not marker.exists()


def test_python_api_refuses_too(tiny_model, synth_yaml, tmp_path, marker):
    import yolo_transfer

    planted = _plant("optimizer", tiny_model, tmp_path, marker)
    with pytest.raises(safeload.UnsafeCheckpoint, match="posix.system"):
        yolo_transfer.predict(planted, synth_yaml.parent / "images" / "val", out=tmp_path / "p")
    with pytest.raises(safeload.UnsafeCheckpoint):
        yolo_transfer.TransferModel(planted).inspect()
    assert not marker.exists()


def test_checkpoints_we_make_and_ship_load_restricted(tiny_model, coco_weights, fall_weights):
    for ckpt in (tiny_model, tiny_model.parent / "last.pt", coco_weights, fall_weights):
        scan = safeload.scan(ckpt)
        assert scan.passes and not scan.unexpected, (ckpt, scan.error)


def test_restricted_is_the_default_and_child_processes_inherit_it():
    assert safeload.is_restricted() and os.environ[safeload.ULTRALYTICS_ENV] == "1"
    import ultralytics.nn.tasks as tasks

    with safeload.loading(trust=True):
        assert not tasks.SAFE_LOAD and os.environ[safeload.ULTRALYTICS_ENV] == "0"
        with safeload.loading(None):  # an inner block (the gate inside export) keeps the command's choice
            assert not tasks.SAFE_LOAD
    assert tasks.SAFE_LOAD


def test_a_planted_teacher_is_refused_too(tiny_model, synth_yaml, tmp_path, marker):
    """Ultralytics loads `distill_model=` itself (in the trainer, and in each DDP rank, which inherit the switch)."""
    import yolo_transfer

    planted = _plant("inside", tiny_model, tmp_path, marker)
    with pytest.raises(safeload.UnsafeCheckpoint, match=f"{planted}: refused: .*posix.system"):
        yolo_transfer.train(tiny_model, synth_yaml, epochs=1, imgsz=64, batch=8, device="cpu", workers=0,
                            project=tmp_path / "runs", distill_model=str(planted), plots=False, verbose=False)
    assert not marker.exists() and not (tmp_path / "runs").exists()


# -------------------------------------------------------------------------- remembered verdicts (the cost of safety)
@pytest.fixture
def verdicts(tmp_path, monkeypatch):
    """A private cache, and a count of the loads torch's restricted unpickler judged."""
    import torch._weights_only_unpickler as wou

    if not verdicts_module.supported():
        pytest.skip(f"torch {torch.__version__} lacks the internals remembered verdicts read: every load is judged")
    monkeypatch.setenv("YOLO_TRANSFER_CACHE", str(tmp_path / "cache"))
    judged = []
    real = wou.Unpickler.load
    monkeypatch.setattr(wou.Unpickler, "load", lambda self: judged.append(1) or real(self))
    return judged


def _load_twice(path) -> None:
    for _ in range(2):
        with safeload.loading(False):
            safeload.load(path)


def test_a_checkpoint_that_passed_once_is_not_judged_again(tiny_model, tmp_path, verdicts):
    copy = tmp_path / "copy.pt"
    copy.write_bytes(tiny_model.read_bytes())
    _load_twice(copy)
    assert len(verdicts) == 1  # the second load read the remembered verdict, and loaded with the C unpickler
    assert (tmp_path / "cache" / "verified-checkpoints.txt").read_text().count("\n") == 1


def test_a_remembered_verdict_is_for_the_exact_pickle(tiny_model, tmp_path, verdicts, marker):
    """The same path rewritten with a planted file (same tensors, one changed object) is judged afresh: refused."""
    path = tmp_path / "best.pt"
    path.write_bytes(tiny_model.read_bytes())
    _load_twice(path)
    path.write_bytes(_plant("inside", tiny_model, tmp_path, marker).read_bytes())
    with pytest.raises(safeload.UnsafeCheckpoint, match="posix.system"):
        with safeload.loading(False):
            safeload.load(path)
    assert not marker.exists() and len(verdicts) == 2


def test_a_new_version_or_the_switch_judges_again(tiny_model, verdicts, monkeypatch):
    import yolo_transfer

    _load_twice(tiny_model)
    monkeypatch.setattr(yolo_transfer, "__version__", "999.0")  # a verdict holds for the versions that made it
    _load_twice(tiny_model)
    monkeypatch.setenv(verdicts_module.CACHE_OFF_ENV, "0")
    _load_twice(tiny_model)
    assert len(verdicts) == 1 + 1 + 2


def test_an_unwritable_cache_only_means_judging_every_load(tiny_model, tmp_path, verdicts, monkeypatch):
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("")
    monkeypatch.setenv("YOLO_TRANSFER_CACHE", str(blocker / "cache"))
    _load_twice(tiny_model)
    assert len(verdicts) == 2


def _legacy_then_zip(front: Path, zip_of: Path, out: Path) -> Path:
    """A file that is a legacy torch.save stream at the front and a valid zip checkpoint at the back (torch.load
    picks the format from the first bytes; a zip reader finds the archive from the end)."""
    import io
    import zipfile

    buf = io.BytesIO(front.read_bytes())
    with zipfile.ZipFile(buf, "a") as zout, zipfile.ZipFile(zip_of) as zin:
        for info in zin.infolist():
            zout.writestr(info, zin.read(info.filename))
    out.write_bytes(buf.getvalue())
    return out


def test_a_polyglot_around_a_remembered_checkpoint_is_judged_and_refused(tiny_model, tmp_path, verdicts, marker):
    """The legacy front (the payload) is what torch.load would unpickle, whatever the zip at the back says."""
    _load_twice(tiny_model)  # remembered
    front = tmp_path / "front.pt"
    torch.save({"model": _Plant(marker)}, front, _use_new_zipfile_serialization=False)
    evil = _legacy_then_zip(front, tiny_model, tmp_path / "evil.pt")
    with pytest.raises(safeload.UnsafeCheckpoint, match="posix.system"):
        with safeload.loading(False):
            safeload.load(evil)
    assert not marker.exists()


def test_judging_one_pickle_never_remembers_another(tiny_model, tmp_path, verdicts, marker):
    """A benign legacy front judged restricted must not remember the digest of a planted zip at its back."""
    planted = _plant("inside", tiny_model, tmp_path, marker)
    front = tmp_path / "front.pt"
    torch.save({"w": torch.ones(3)}, front, _use_new_zipfile_serialization=False)
    stage = _legacy_then_zip(front, planted, tmp_path / "stage.pt")
    with safeload.loading(False):
        safeload.load(stage)  # the legacy front: a tensor dict, fine
    for _ in range(2):
        with pytest.raises(safeload.UnsafeCheckpoint):
            with safeload.loading(False):
                safeload.load(planted)
    assert not marker.exists()


def test_a_cache_others_can_write_grants_nothing(tiny_model, tmp_path, verdicts):
    """The verdicts file lets a pickle load with full pickle: in a group- or world-writable folder it is ignored."""
    shared = tmp_path / "cache"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    _load_twice(tiny_model)
    assert len(verdicts) == 2 and not (shared / "verified-checkpoints.txt").exists()
    shared.chmod(0o700)
    _load_twice(tiny_model)
    assert len(verdicts) == 3 and (shared / "verified-checkpoints.txt").stat().st_mode & 0o077 == 0


def test_a_verdict_reached_with_a_stand_in_is_not_remembered(tmp_path, verdicts):
    """Ultralytics' restricted loading resolves `builtins.getattr` to a guarded stand-in; full pickle would resolve
    the real one, so a pickle naming it is judged at every load."""
    path = tmp_path / "getattr.pt"
    torch.save({"g": getattr, "w": torch.ones(2)}, path)
    _load_twice(path)
    assert len(verdicts) == 2


def test_a_verdict_reached_under_the_process_own_allow_list_is_not_remembered(tmp_path, verdicts):
    """A global this process allowed itself (`safe_globals`) says nothing for a process that did not: the next
    load without it is judged, and refused."""
    from fractions import Fraction

    path = tmp_path / "fraction.pt"
    torch.save({"x": Fraction(1, 3)}, path)
    with torch.serialization.safe_globals([Fraction]):
        _load_twice(path)
    with pytest.raises(safeload.UnsafeCheckpoint, match="fractions.Fraction"):
        with safeload.loading(False):
            safeload.load(path)
    assert len(verdicts) == 3


def test_a_remembered_pickle_that_full_pickle_cannot_load_is_judged_again_not_deleted(tiny_model, tmp_path,
                                                                                    verdicts, monkeypatch):
    """Where the C unpickler fails on bytes the restricted one took, the load falls back to judging it; none of
    Ultralytics' own fallbacks (a re-download that removes the file) starts."""
    copy = tmp_path / "copy.pt"
    copy.write_bytes(tiny_model.read_bytes())
    _load_twice(copy)
    import pickle

    def broken(self, *a, **k):
        raise pickle.UnpicklingError("state is not a dictionary")

    from yolo_transfer import verdicts as store

    monkeypatch.setattr(store, "only", lambda expected: type("M", (), {
        "__name__": "m", "Unpickler": type("U", (pickle.Unpickler,), {"load": broken}),
        "load": broken, "UnpicklingError": pickle.UnpicklingError}))
    with safeload.loading(False):
        assert safeload.load(copy)["model"] is not None
    assert copy.exists() and len(verdicts) == 2
    assert (tmp_path / "cache" / "verified-checkpoints.txt").read_text().count("\n") == 1  # no duplicate line


def test_a_verdicts_file_that_is_a_link_grants_nothing(tiny_model, tmp_path, verdicts):
    """Someone else's list of digests, linked in as the verdicts file, is not read (and not written through)."""
    _load_twice(tiny_model)
    cache = tmp_path / "cache"
    theirs = tmp_path / "theirs.txt"
    theirs.write_text((cache / "verified-checkpoints.txt").read_text())
    (cache / "verified-checkpoints.txt").unlink()
    (cache / "verified-checkpoints.txt").symlink_to(theirs)
    _load_twice(tiny_model)
    assert len(verdicts) == 3 and theirs.read_text().count("\n") == 1


def test_a_damaged_checkpoint_is_one_line_in_inspect(tiny_model, tmp_path):
    damaged = tmp_path / "truncated.pt"
    damaged.write_bytes(tiny_model.read_bytes()[:4000])
    r = CliRunner().invoke(main, ["inspect", str(damaged)])
    assert r.exit_code == 2 and r.output.count("\n") == 1, r.output
    assert f"{damaged}: not a loadable checkpoint" in r.output


@pytest.mark.parametrize("outer, trust, restricted", [
    (None, False, True),  # train_preset called directly: restricted
    (None, True, False),  # ... unless it is told to trust
    (True, False, False),  # a trial of `compare --trust-checkpoint` (its options carry no trust): trusted
    (False, False, True),
])
def test_train_preset_loads_as_the_enclosing_command_says(monkeypatch, outer, trust, restricted):
    """compare's trials and auto's probes call train_preset inside the command's own loading block: what that
    command chose holds for them; called on its own, train_preset loads restricted unless trusted."""
    import contextlib

    import yolo_transfer.training.api as api

    seen = []

    class Stop(Exception):
        pass

    def prepare(*args, **kwargs):  # where the run's checkpoints start loading
        seen.append(safeload.is_restricted())
        raise Stop

    monkeypatch.setattr(api, "_prepare_new", prepare)
    monkeypatch.delenv(safeload.TRUST_ENV, raising=False)
    with safeload.loading(outer) if outer is not None else contextlib.nullcontext():
        with pytest.raises(Stop):
            api.train_preset("any.pt", "any.yaml", trust_checkpoint=trust, device="cpu")
    assert seen == [restricted]
