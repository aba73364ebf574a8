"""Compare transfer strategies on the user's own data: one training run per preset x seed x fraction, one report.

The public function is `yolo_transfer.compare` (defined in `yolo_transfer.comparison.api`).
"""
