"""`train(preset="auto")`: successive halving over candidate presets, with probes that are never wasted.

By role: `policy` (the rule), `state` (`AutoState`, `auto.json`), `probes` (the callbacks that stop and read a probe),
`report` (`auto.md`, `auto.png`, the closing lines), `run` (`auto_train`, `resume_auto`) and `asha` (the probes in
parallel on Ray Tune). Evidence for the rule: docs/evidence/strategy.md.
"""

from yolo_transfer.strategy.auto.run import auto_train, resume_auto
from yolo_transfer.strategy.auto.state import AutoState, is_auto_run

__all__ = ["auto_train", "resume_auto", "is_auto_run", "AutoState"]
