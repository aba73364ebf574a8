"""What every sweep shares: `compare` (policy "all": every trial to its end) and `train --preset auto` (successive
halving in this process, or ASHA on Ray) are both trials run by one set of rules.

- `sweep.trial`: a trial is one `train_preset` run in its own folder: skipped when its record is finished, resumed
  from its `last.pt`, else (re)started in that folder.
- `sweep.ray`: the one Ray Tune executor (a trial per Tune trial, each with its share of the cluster, an optional
  scheduler such as ASHA ranking by a reported metric).
- Each sweep's state is one typed record on `utils.records.JsonRecord`, written after every trial so a rerun or
  `--resume` goes on from it: `comparison.state.CompareState` (`compare.json`), `strategy.auto.state.AutoState`
  (`auto.json`).

Layer: above `training/`, below `comparison/` and `strategy/`.
"""
