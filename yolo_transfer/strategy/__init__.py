"""Choosing the transfer strategy from evidence.

- `facts`: what is measured (data per class, object sizes, class overlap, domain distance, compute, budget);
- `domain`: the domain distance from the checkpoint's BatchNorm statistics alone;
- `rules`: the ordered rule registry `recommend` applies (the only place the rules live);
- `recommend`: `recommend()` and the `yolo-transfer recommend` command;
- `auto`: `train(preset="auto")`, successive halving over candidate presets with probes that are never wasted.
"""
