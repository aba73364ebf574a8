"""Choosing the transfer strategy from evidence: `facts` (what is measured), `domain` (the domain distance from the
checkpoint's BatchNorm statistics alone), `rules` (the ordered rules `recommend` applies, the only place they live),
`recommend` (`recommend()`, `yolo-transfer recommend`) and `auto` (`train(preset="auto")`, successive halving).
"""
