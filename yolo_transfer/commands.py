"""The CLI's command list: each subpackage owns its click commands, this only gathers them."""

from yolo_transfer.compare.cli import compare_cmd
from yolo_transfer.data.cli import data
from yolo_transfer.export.cli import benchmark_cmd, export_cmd
from yolo_transfer.predict.cli import predict_cmd
from yolo_transfer.training.cli import demo_cmd, inspect_cmd, presets_cmd, train_cmd

COMMANDS = [train_cmd, compare_cmd, inspect_cmd, presets_cmd, demo_cmd, data, export_cmd, benchmark_cmd, predict_cmd]
