"""The writer thread: results in, formatted files and ledger commits out, progress bar updated.

Serialising, drawing and fsyncing happen here, off the thread that feeds the model; the queue is bounded so a slow
disk slows the model down instead of growing memory. A commit (outputs fsynced, then one ledger line) happens at
most every `commit_every` seconds and when the sink closes, Ctrl-C included.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from collections.abc import Sequence

from yolo_transfer.inference.pipeline import ImageResult
from yolo_transfer.inference.resume import Ledger
from yolo_transfer.inference.writers import Writer

_STOP = object()


class Sink:
    def __init__(self, writers: Sequence[Writer], ledger: Ledger, bar=None, commit_every: float = 1.0,
                 maxsize: int = 64):
        self.writers = list(writers)
        self.ledger = ledger
        self.bar = bar
        self.commit_every = commit_every
        self.q: queue.Queue = queue.Queue(maxsize=maxsize)
        self.error: BaseException | None = None
        # Images of this session committed so far (the summary's totals come from the ledger, never from these).
        self.ok = self.errors = 0
        self._pending: dict[str, dict[int, int] | None] = {}  # written, not yet committed: detections per class
        self._t_last = time.perf_counter()
        self._thread = threading.Thread(target=self._loop, name="predict-writer", daemon=True)

    def __enter__(self) -> Sink:
        self.ledger.open()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def put(self, r: ImageResult) -> None:
        while self.error is None:
            try:
                self.q.put(r, timeout=0.5)
                return
            except queue.Full:
                pass
        raise self.error

    def close(self) -> None:
        """Write and commit everything queued so far, then stop. Re-raises a failure of the writer thread."""
        if self._thread.is_alive():
            self.q.put(_STOP)
            self._thread.join()
        self.ledger.close()
        if self.error is not None:
            raise self.error

    def _loop(self) -> None:
        try:
            while True:
                r = self.q.get()
                if r is _STOP:
                    break
                self._write(r)
                if time.perf_counter() - self._t_last >= self.commit_every:
                    self._commit()
            self._commit()
        except BaseException as e:  # surfaced to the feeding thread by put()/close()
            self.error = e

    def _write(self, r: ImageResult) -> None:
        for w in self.writers:
            w.write(r)
        self._pending[r.ref.path] = None if r.error is not None else dict(Counter(r.detections.class_id.tolist()))
        if self.bar is not None:
            self.bar.update(1)

    def _commit(self) -> None:
        now = time.perf_counter()
        if not self._pending:
            self._t_last = now
            return
        offsets = {w.name: off for w in self.writers if (off := w.commit()) is not None}
        self.ledger.append(self._pending, offsets, now - self._t_last)
        failed = sum(r is None for r in self._pending.values())
        self.ok += len(self._pending) - failed
        self.errors += failed
        self._pending, self._t_last = {}, now
