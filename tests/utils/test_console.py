"""Quiet mode: when stdout is not a terminal, `train` prints a line per epoch and Ultralytics' log goes to a file."""

import logging

from click.testing import CliRunner

from yolo_transfer.cli import main


def test_train_is_quiet_off_a_terminal_and_logs_to_the_run_folder(synth_yaml, tmp_path):
    args = ["train", "--data", str(synth_yaml), "--weights", "yolo11n.yaml", "--epochs", "2", "--imgsz", "64",
            "--batch", "8", "--device", "cpu", "--project", str(tmp_path), "--name", "q", "workers=0", "plots=false"]
    out = CliRunner().invoke(main, args)  # CliRunner's stdout is not a terminal: quiet by default
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    epochs = [ln for ln in lines if ln.startswith("epoch ")]
    assert [ln.split()[1] for ln in epochs] == ["1/2", "2/2"] and all("mAP50" in ln and "box" in ln for ln in epochs)
    assert len(lines) <= 12, out.output  # no argument dump, layer table or progress bars
    log = tmp_path / "q" / "log.txt"
    text = log.read_text()
    assert "Ultralytics" in text and "epochs completed" in text  # ... they are in the run folder's log
    assert not list(tmp_path.glob(".train-*.log"))  # moved, not copied
    # the logger writes to the terminal again afterwards
    from ultralytics.utils import LOGGER

    assert all(getattr(h, "stream", None) is not None and not getattr(h.stream, "closed", False)
               for h in LOGGER.handlers if isinstance(h, logging.StreamHandler))


def test_verbose_shows_ultralytics_output(synth_yaml, tmp_path):
    args = ["train", "--data", str(synth_yaml), "--weights", "yolo11n.yaml", "--epochs", "1", "--imgsz", "64",
            "--batch", "8", "--device", "cpu", "--project", str(tmp_path), "--name", "v", "--verbose", "workers=0",
            "plots=false"]
    out = CliRunner().invoke(main, args)
    assert out.exit_code == 0, out.output
    assert not (tmp_path / "v" / "log.txt").exists()


def test_say_reaches_the_terminal_and_the_log_inside_a_quiet_block(tmp_path, capsys):
    """`--preset auto`'s rung lines come from code with no `Quiet` at hand: inside a quiet block they must still reach
    the terminal as they happen (and the log), and outside one they are plain prints."""
    from yolo_transfer.utils.console import quiet, say

    log = tmp_path / "log.txt"
    with quiet(log):
        print("library chatter")
        say("auto: rung 1 (epoch 3): full 0.3->0.3; continuing full")
    say("after")
    out = capsys.readouterr().out
    assert out == "auto: rung 1 (epoch 3): full 0.3->0.3; continuing full\nafter\n"
    assert log.read_text() == "library chatter\nauto: rung 1 (epoch 3): full 0.3->0.3; continuing full\n"


def test_a_full_disk_under_the_log_prints_no_logging_tracebacks(tmp_path, monkeypatch, capsys):
    """Every Ultralytics log line into a log on a full disk printed `--- Logging error ---` and a traceback on the
    terminal, and its progress bars crashed the run for the log's sake: the log's write errors are dropped (the
    run's own files still fail, in one line)."""
    import errno
    import io

    from ultralytics.utils import LOGGER

    from yolo_transfer.utils import console

    class FullDisk(io.StringIO):
        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(console, "open", lambda *args, **kwargs: FullDisk(), raising=False)
    with console.quiet(tmp_path / "log.txt") as q:
        LOGGER.warning("a line for the log")
        print("a progress bar")  # sys.stdout is the log inside the block
        q.echo("what the user reads")
    captured = capsys.readouterr()
    assert "Logging error" not in captured.err and "Traceback" not in captured.err
    assert captured.out == "what the user reads\n"
