"""Connecting to Ray the one way `compare`, `train --preset auto` and `predict` do (`--engine ray`); the sweeps' Tune
executor is `sweep.ray`."""

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
