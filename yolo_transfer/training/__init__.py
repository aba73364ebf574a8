"""Training: an Ultralytics `DetectionTrainer` subclass driven by a `FreezePlan`."""
