"""The ``ultralytics`` package (YOLOv8, YOLO11, RT-DETR) as a host, in one package:

* :mod:`.host`: the host the registry asks (configs, checkpoints, ``learn``'s trainer); importing this
  package imports only it, so the registry can ask without importing ultralytics;
* :mod:`.config_lookup`: our config names and how ultralytics' scaled names map onto them;
* :mod:`.registration`: our blocks made layers of ultralytics (the ``parse_model`` rewrite, the fuse and
  ``check_yaml`` hooks);
* :mod:`.yolo_args`, :mod:`.safe_load`, :mod:`.yolo_route`: the ``yolo`` command route (its argument checks,
  its safe checkpoint loading, and the route itself).

Importing this package does not register our blocks: ``import yolov5_shuffle.ultralytics`` does (the one
public import; older docs named this package's path, which was then the registration module).
"""

from .host import HOST  # noqa: F401  (what the host registry looks for)
