"""Compare transfer strategies on the user's own data: `yolo_transfer.compare` (defined in `comparison.api`)."""
