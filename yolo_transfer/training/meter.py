"""Per-epoch cost of a run: wall seconds, peak memory and training images/s (and the freeze plan's stage), through
Ultralytics callbacks.

Peak memory is the process's resident set on CPU (Linux: the kernel's high-water mark `VmHWM`, reset at the start
of each run through `/proc/self/clear_refs`, so runs made one after another in one process are measured apart;
elsewhere the RSS sampled after every batch) and `torch.cuda.max_memory_allocated` on a GPU.
"""

from __future__ import annotations

import time
from pathlib import Path

def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _hwm_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reset_hwm() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # "5": reset the peak RSS counter (Linux >= 4.0)
        return True
    except OSError:
        return False


class EpochMeter:
    """Attach with `meter.attach(trainer)`; `rows` holds one dict per finished epoch, keyed by epoch index."""

    def __init__(self):
        self.rows: dict[int, dict[str, float]] = {}
        self.peak_mb = 0.0
        self._hwm = False
        self._cuda = False
        self._t_epoch = time.perf_counter()
        self._epoch_peak = 0.0
        self._batches = 0

    def attach(self, trainer) -> None:
        trainer.add_callback("on_train_start", self._on_start)
        trainer.add_callback("on_train_epoch_start", self._on_epoch_start)
        trainer.add_callback("on_train_batch_end", self._on_batch_end)
        trainer.add_callback("on_train_epoch_end", self._on_epoch_end)
        trainer.add_callback("on_fit_epoch_end", self._on_fit_epoch_end)

    def _now_mb(self) -> float:
        if self._cuda:
            import torch

            return torch.cuda.max_memory_allocated() / 2**20
        if self._hwm:
            return _hwm_mb() or 0.0
        return _rss_mb()

    def _on_start(self, trainer) -> None:
        self._cuda = getattr(trainer.device, "type", "cpu") == "cuda"
        if self._cuda:
            import torch

            torch.cuda.reset_peak_memory_stats()
        else:
            self._hwm = _reset_hwm() and _hwm_mb() is not None

    def _on_epoch_start(self, trainer) -> None:
        self._t_epoch = time.perf_counter()
        self._epoch_peak = 0.0
        self._batches = 0

    def _on_batch_end(self, trainer) -> None:
        self._batches += 1
        if not self._cuda and not self._hwm:
            self._epoch_peak = max(self._epoch_peak, _rss_mb())

    def _on_epoch_end(self, trainer) -> None:  # training part done, validation not yet
        train_s = time.perf_counter() - self._t_epoch
        n = len(trainer.train_loader.dataset) if getattr(trainer, "train_loader", None) is not None else 0
        # a time budget can stop an epoch part-way: count the batches that ran (the last one may be short)
        n = min(n, self._batches * int(getattr(trainer, "batch_size", 0) or n))
        self.rows[trainer.epoch] = {"train_seconds": round(train_s, 3), "train_images": n,
                                    "images_per_s": round(n / train_s, 2) if train_s > 0 else 0.0}
        if getattr(trainer, "current_stage", None) is not None:  # the freeze plan's stage this epoch trained in
            self.rows[trainer.epoch]["stage"] = trainer.current_stage

    def _on_fit_epoch_end(self, trainer) -> None:  # after validation; Ultralytics' final eval of best.pt repeats it
        row = self.rows.get(trainer.epoch)
        if row is None or "epoch_seconds" in row:
            return
        peak = max(self._epoch_peak, self._now_mb())
        self.peak_mb = max(self.peak_mb, peak)
        row["epoch_seconds"] = round(time.perf_counter() - self._t_epoch, 3)
        row["peak_memory_mb"] = round(peak, 1)
