"""Files from strangers, read as data: the one place that loads a checkpoint, a model yaml or an exported
model's metadata that this process did not write.

The rule every reader here keeps: read exactly what the loader will use (the same bytes, the same
records), call nothing and import nothing a file names, and bound what it may cost (size, opcodes or
nodes, time) before reading it whole. What a reader refuses is a :class:`~yolov5_shuffle.errors.UserError`
that names the file and what was wrong: one line, exit 2.

* :mod:`.checkpoint`: ``.pt`` files (ours, YOLOv5's, YOLOv7's, ultralytics'), unpickled by torch with
  :mod:`.checkpoint_pickle`'s unpickler;
* :mod:`.model_yaml`: model configs, before any host's ``parse_model`` sees them;
* :mod:`.metadata`: an exported model's ``metadata.yaml``.
"""
