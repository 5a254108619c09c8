"""The names of the deploy runtimes, in one light module: the command line lists them in its help and
checks ``--to``/``--runtimes`` against them without importing torch or any runtime
(:mod:`.deploy` implements them)."""

RUNTIMES = ("onnxruntime", "openvino", "ncnn", "tflite_fp32", "tflite_fp16", "onnxruntime_int8")
