"""Connecting to Ray the one way `compare`, `train --preset auto` and `predict` do (`--engine ray`)."""

from __future__ import annotations

import os
from pathlib import Path

from yolo_transfer.errors import UserError


def connect(address: str | None = None) -> bool:
    """Join the cluster at `address` (or RAY_ADDRESS), or start a local Ray; True when this call started it (the
    caller then shuts it down). A local Ray's workers get this package on PYTHONPATH, the way the driver imports it."""
    import ray

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    env = {"PYTHONPATH": os.pathsep.join(p for p in (str(Path(__file__).resolve().parents[2]),
                                                     os.environ.get("PYTHONPATH", "")) if p)}
    try:
        ray.init(address=address, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False,
                 runtime_env=None if address else {"env_vars": env})
    except (ConnectionError, RuntimeError) as e:
        raise UserError(f"--ray-address {address}: cannot connect to Ray ({' '.join(str(e).split())[:200]})") from None
    return True


def trial_resources(n: int) -> tuple[dict, int, int]:
    """(resources per trial, CPUs, GPUs): one GPU per trial where the cluster has GPUs, else its CPUs shared out
    between `n` trials running at once (Ray sets each worker's thread count to its share)."""
    import ray

    res = ray.cluster_resources()
    gpus, cpus = int(res.get("GPU", 0)), max(1, int(res.get("CPU", 1)))
    return ({"cpu": 1, "gpu": 1} if gpus else {"cpu": max(1, cpus // max(n, 1))}), cpus, gpus


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
    """The Ray executor of every sweep (compare's trials, auto's probes): `n` trials of `trainable` over `space` at
    once, each with its share of the cluster (`space["gpu"]` says whether it has a GPU), under `scheduler` (ASHA
    for auto) ranking by `metric`; returns the resources each trial had. `announce(per_trial, cpus, gpus)` first."""
    ray, tune = require_tune()
    started = connect(address)
    try:
        per_trial, cpus, gpus = trial_resources(n)
        if announce is not None:
            announce(per_trial, cpus, gpus)
        ranked = {"metric": metric, "mode": "max", "scheduler": scheduler} if scheduler is not None else {}
        tuner = tune.Tuner(
            tune.with_resources(trainable, per_trial), param_space={**space, "gpu": bool(gpus)},
            tune_config=tune.TuneConfig(num_samples=1, max_concurrent_trials=n, **ranked),
            run_config=tune.RunConfig(name="tune", storage_path=str(Path(storage).resolve()), verbose=0),
        )
        fit(tuner, echo, what)
    finally:
        if started:
            ray.shutdown()
    return per_trial


def fit(tuner, echo=print, what: str = "trial") -> None:
    """Run a Ray Tune `Tuner`; a trial that raised is reported in one line each (its run folder has the rest)."""
    for r in tuner.fit():
        if r.error is not None:
            echo(f"ray: a {what} raised {type(r.error).__name__}: {str(r.error).splitlines()[0][:200]}")
