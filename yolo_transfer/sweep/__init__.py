"""What every sweep shares: `compare` (every trial to its end) and `train --preset auto` (successive halving here,
or ASHA on Ray) run their trials by one set of rules.

- `sweep.trial`: a trial is one `train_preset` run in its own folder, skipped, resumed or (re)started by one rule;
- `sweep.ray`: the one Ray Tune executor (each trial its share of the cluster, an optional scheduler such as ASHA).

Each sweep's state is a `utils.records.JsonRecord` written after every trial (`compare.json`, `auto.json`), so a
rerun or `--resume` goes on from it. Layer: above `training/`, below `comparison/` and `strategy/`.
"""
