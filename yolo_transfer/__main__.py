from yolo_transfer.cli import main

main(prog_name="yolo-transfer")
