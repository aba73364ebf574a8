"""`utils.env`: what a run records about the machine, and the CPU threads training uses."""

from yolo_transfer.utils.env import cpu_train_threads, train_threads


def test_cpu_training_uses_every_core_up_to_ultralytics_cap():
    # Ultralytics alone: min(8, cores - 1) threads with data loading in the same thread (workers=0 on the CPU)
    assert [train_threads(c, None) for c in (1, 2, 4, 8, 9, 64)] == [1, 2, 4, 8, 8, 8]


def test_cpu_threads_set_before_ultralytics_win():
    # a user's OMP_NUM_THREADS, or Ray's per-trial CPUs, set before Ultralytics' import (which sets 1 when unset)
    assert train_threads(2, "1") == 1 and train_threads(64, "16") == 16
    assert train_threads(2, "") == 2 and train_threads(2, "auto") == 2 and train_threads(2, "0") == 2


def test_ultralytics_default_omp_is_not_taken_for_a_choice(monkeypatch):
    """Ultralytics sets OMP_NUM_THREADS=1 on import when unset; Ray sets it per task, also in a reused worker where we
    were imported earlier under another value."""
    from yolo_transfer.utils import env
    from yolo_transfer.utils.env import user_omp_threads

    monkeypatch.setattr(env, "OMP_CHOSEN_BEFORE_ULTRALYTICS", False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert user_omp_threads() is None and cpu_train_threads(cores=2) == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # a Ray task with 2 CPUs in a worker first used with 1
    assert user_omp_threads() == "2" and cpu_train_threads(cores=4) == 2
    monkeypatch.setattr(env, "OMP_CHOSEN_BEFORE_ULTRALYTICS", True)  # set before us: a choice
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert cpu_train_threads(cores=2) == 1


def test_check_device_accepts_what_ultralytics_accepts_and_refuses_the_rest(monkeypatch):
    """Pure reading: CUDA's device count is faked to 2, so the verdicts hold on any machine."""
    import pytest
    import torch

    from yolo_transfer.errors import UserError
    from yolo_transfer.utils.env import check_device

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    for ok in (None, "", "cpu", "CPU", "-1", "-1,-1", "0", "1", "0,1", "0,1,", "cuda", "cuda:0", 0, [0, 1], (0, 1),
               "mps", "mps:0", "npu:0", "xpu:0,1", "[0, 1]"):
        check_device(ok)
    for bad, msg in (("2", "there is no GPU 2; this machine has 2"), ("0,5", "no GPU 5"), ("gpu", "use cpu, mps"),
                     ("0;1", "use cpu, mps")):
        with pytest.raises(UserError, match=msg):
            check_device(bad)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")  # Ultralytics maps the physical id: left to it
    check_device("3")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    with pytest.raises(UserError, match="no CUDA GPU is visible here"):
        check_device("0")
