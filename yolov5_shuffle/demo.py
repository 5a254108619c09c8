"""``yolov5-shuffle demo``: the README's main job, from nothing to annotated images and video.

Each step reuses what an earlier run made (vendored tree, patch, dataset); every run trains into a
new numbered folder, so nothing earlier is overwritten. The generated pictures are 320 px (``--data-imgsz``)
so that the annotated results are readable. Training may run smaller (``--imgsz``, 160 by default, for CPU
speed; YOLOv5 resizes the pictures) and detection runs at the same size, the scale the model learned:
detect.py draws its boxes on the source pictures, so the annotated results are 320 px either way, with box
lines and labels sized for them (the detect wrapper passes ``--line-thickness`` from the picture size).

The budget (yolov5n-shufflenetv2, 1500 pictures an epoch, batch 32, 20 epochs, images cached in RAM) is
what the yardstick teaches: a small model from scratch needs many images per epoch and a schedule that ends,
not more epochs over few pictures. The old 300-picture, batch-8 recipe stopped at mAP50 0.36, mid-climb.
"""

from __future__ import annotations

import time
from pathlib import Path

from . import host_scripts
from .errors import user_path
from .host_scripts import SHORT_RUN, detect, ensure_tree


def _score(run: Path) -> str:
    """The run's validation mAP (best epoch, as best.pt) and its last epoch's, from results.csv."""
    from .measure.learning import read_results
    from .measure.curves import read_curve

    best = read_results(run)
    curve, curve50 = read_curve(run)
    return (f"validation mAP50 {best['mAP50']:.3f}, mAP50-95 {best['mAP50-95']:.3f} (best.pt; the last of "
            f"{len(curve)} epochs: mAP50 {curve50[-1]:.3f}, mAP50-95 {curve[-1]:.3f})")


def run_demo(*, workdir: Path, epochs: int, train: int, val: int, imgsz: int, data_imgsz: int, batch: int, cfg: str,
             vendor: bool = True) -> int:
    """Vendor (unless ``vendor`` is False: third_party/yolov5 as the set-up left it) and patch YOLOv5, generate
    ``train``/``val`` pictures of ``data_imgsz`` px, train ``cfg`` at ``imgsz`` and detect on the validation
    images and the video, all under ``workdir``."""
    work = Path(workdir).resolve()
    t0 = time.time()
    steps = 5

    def step(i, what):
        print(f"\n[{i}/{steps}] {what}  ({time.time() - t0:.0f}s elapsed)", flush=True)

    with user_path("--workdir", workdir):  # the set-up, data and runs: a full disk, a folder we may not write
        from .configs import resolve_config

        resolve_config(cfg)  # a wrong name fails now, not after minutes of set-up
        step(1, "YOLOv5: vendor (reused when present) and patch")
        root = ensure_tree(vendor=vendor)
        step(2, "demo dataset (generated, reused when present)")
        from .dataset import make_dataset

        data = make_dataset(work / f"data{data_imgsz}-{train}-{val}", train, val, data_imgsz, seed=0,
                            video=True)
        step(3, f"train {cfg} for {epochs} epochs at {imgsz} px on the CPU ({train} pictures an epoch, "
                f"batch {batch}; the first epochs' validation may report 'NMS time limit exceeded': expected)")
        t_train = time.time()
        run = host_scripts.train(root, cfg, data, epochs, imgsz, work / "train", batch=batch,  # `train`: a count
                                 extra=[*SHORT_RUN, "--cache", "ram"])
        t_train = time.time() - t_train
        best = run / "weights" / "best.pt"
        score = _score(run)
        print(f"\ntrained in {t_train / 60:.1f} min: {score}", flush=True)
        step(4, f"detect on the validation images ({data_imgsz} px pictures, inference at {imgsz} px)")
        det_images = detect(root, best, data.parent / "images" / "val", imgsz, work / "detect", "images")
        step(5, f"detect on the video ({data_imgsz} px frames, inference at {imgsz} px)")
        det_video = detect(root, best, data.parent / "video.mp4", imgsz, work / "detect", "video")
    print(f"\ndemo finished in {time.time() - t0:.0f}s (training {t_train / 60:.1f} min). Results:")
    print(f"  training run (plots, results.csv): {run}")
    print(f"  weights:                           {best}")
    print(f"  annotated validation images:       {det_images}")
    print(f"  annotated video:                   {det_video / 'video.mp4'}")
    print(f"  {score}")
    return 0
