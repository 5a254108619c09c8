"""The user's data: YOLO data yamls and label files (``files``), images and videos to detect on (``sources``)."""
