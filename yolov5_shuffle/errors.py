"""One base class for the errors a user can fix.

Raise :class:`UserError` (or a subclass) with a one-line message that names the file (``path:line``
where there is one), the layer (``layer 3 ShuffleNetV2_InvertedResidual``) or the argument (``--imgsz``)
and says what would be accepted. The command line prints it as ``yolov5-shuffle <command>: <message>``
and exits 2, with no traceback unless ``--verbose`` (see :mod:`yolov5_shuffle.cli`).
"""

EXIT_OK, EXIT_USER, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 2, 3, 130


class UserError(Exception):
    pass
