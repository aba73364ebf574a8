"""Datasets: generate, convert, check, split and describe YOLO-layout datasets."""
