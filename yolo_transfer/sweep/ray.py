"""The Ray Tune executor of every sweep (compare's trials, auto's probes under ASHA): `--engine ray`.

Each trial gets its share of the cluster: one GPU where it has GPUs, else its CPUs shared out between the trials that
run at once (Ray sets each worker's thread count to its share). On a cluster the data, the weights and the sweep's
folder must be at the same path on every node (shared storage). Install with `pip install 'yolo-transfer[distributed]'`.
"""

from __future__ import annotations

from pathlib import Path

from yolo_transfer.errors import UserError
from yolo_transfer.utils.raycluster import connect


def worker_device(config: dict) -> str:
    """The device a trial trains on inside its Ray worker: its GPU, or the CPU share it was given."""
    return "0" if config["gpu"] else "cpu"


def require_tune():
    """Ray and its Tune, or the one line that says how to install them."""
    try:
        import ray
        from ray import tune
    except ImportError:
        raise UserError("--engine ray needs Ray Tune: pip install 'yolo-transfer[distributed]' (ray[tune])") from None
    return ray, tune


def run_trials(trainable, space: dict, n: int, storage: Path, address: str | None = None, *, announce=None,
               echo=print, what: str = "trial", scheduler=None, metric: str | None = None) -> dict:
    """`n` trials of `trainable` over `space` at once (`space["gpu"]`: whether each has a GPU), under `scheduler` (ASHA
    for auto) ranking by `metric`; `announce(per_trial, cpus, gpus)` first. Returns the resources each trial had."""
    ray, tune = require_tune()
    started = connect(address)
    try:
        res = ray.cluster_resources()  # one GPU per trial where there are GPUs, else a share of the CPUs
        gpus, cpus = int(res.get("GPU", 0)), max(1, int(res.get("CPU", 1)))
        per_trial = {"cpu": 1, "gpu": 1} if gpus else {"cpu": max(1, cpus // max(n, 1))}
        if announce is not None:
            announce(per_trial, cpus, gpus)
        ranked = {"metric": metric, "mode": "max", "scheduler": scheduler} if scheduler is not None else {}
        tuner = tune.Tuner(
            tune.with_resources(trainable, per_trial), param_space={**space, "gpu": bool(gpus)},
            tune_config=tune.TuneConfig(num_samples=1, max_concurrent_trials=n, **ranked),
            run_config=tune.RunConfig(name="tune", storage_path=str(Path(storage).resolve()), verbose=0),
        )
        for r in tuner.fit():  # a trial that raised: one line each (its run folder has the rest)
            if r.error is not None:
                echo(f"ray: a {what} raised {type(r.error).__name__}: {str(r.error).splitlines()[0][:200]}")
    finally:
        if started:
            ray.shutdown()
    return per_trial
