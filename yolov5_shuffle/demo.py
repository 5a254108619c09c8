"""``yolov5-shuffle demo``: the README's main job, from nothing to annotated images and video.

Each step reuses what an earlier run made (vendored tree, patch, dataset); every run trains into a
new numbered folder, so nothing earlier is overwritten. The generated pictures are 320 px (``--data-imgsz``)
so that the annotated results are readable. Training may run smaller (``--imgsz``, 160 by default, for CPU
speed; YOLOv5 resizes the pictures) and detection runs at the same size, the scale the model learned:
detect.py draws its boxes on the source pictures, so the annotated results are 320 px either way, with box
lines and labels sized for them (the detect wrapper passes ``--line-thickness`` from the picture size).
"""

from __future__ import annotations

import time
from pathlib import Path

from .hosts.scripts import SHORT_RUN, YOLOv5Error, detect, ensure_yolov5, train


def run_demo(a) -> int:
    work = Path(a.workdir).resolve()
    data_imgsz = getattr(a, "data_imgsz", 320)
    t0 = time.time()
    steps = 5

    def step(i, what):
        print(f"\n[{i}/{steps}] {what}  ({time.time() - t0:.0f}s elapsed)", flush=True)

    try:
        from .configs import resolve_config

        resolve_config(a.cfg)  # a wrong name fails now, not after minutes of set-up
        step(1, "YOLOv5: vendor (reused when present) and patch")
        root = ensure_yolov5()
        step(2, "demo dataset (generated, reused when present)")
        from .dataset import make_dataset

        data = make_dataset(work / f"data{data_imgsz}", a.train, a.val, data_imgsz, seed=0, video=True)
        step(3, f"train {a.cfg} for {a.epochs} epochs at {a.imgsz} px on the CPU")
        run = train(root, a.cfg, data, a.epochs, a.imgsz, work / "train", batch=a.batch, extra=SHORT_RUN)
        best = run / "weights" / "best.pt"
        step(4, f"detect on the validation images ({data_imgsz} px pictures, inference at {a.imgsz} px)")
        det_images = detect(root, best, data.parent / "images" / "val", a.imgsz, work / "detect", "images")
        step(5, f"detect on the video ({data_imgsz} px frames, inference at {a.imgsz} px)")
        det_video = detect(root, best, data.parent / "video.mp4", a.imgsz, work / "detect", "video")
    except OSError as e:
        raise YOLOv5Error(str(e)) from e
    print(f"\ndemo finished in {time.time() - t0:.0f}s. Results:")
    print(f"  training run (plots, results.csv): {run}")
    print(f"  weights:                           {best}")
    print(f"  annotated validation images:       {det_images}")
    print(f"  annotated video:                   {det_video / 'video.mp4'}")
    return 0
