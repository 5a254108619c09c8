"""Deployment: a trained checkpoint exported to the runtimes people deploy with, and run from there.

``runtimes/`` holds one module per runtime (adding one is adding a file there, see
``docs/deploy.md``); :mod:`.export` is the ``export`` command, :mod:`.exported` runs an artefact as a
detector (``detect --weights model.onnx``), :mod:`.metrics` holds the detection maths both share.
Nothing in this package imports a YOLO host; the checkpoint is loaded by the caller's host code.
"""
