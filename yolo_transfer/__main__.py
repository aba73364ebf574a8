from yolo_transfer.cli import main

if __name__ == "__main__":  # `python -m yolo_transfer`; importing this module (the docs build does) runs nothing
    main(prog_name="yolo-transfer")
