"""YOLOv8-seg members: the fold exported for ultralytics, trained by its own trainer."""
