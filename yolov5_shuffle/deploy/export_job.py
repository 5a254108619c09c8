"""One export run: each runtime exported, checked against PyTorch and scored, then the report; rolled
back on Ctrl-C or a full disk (what this run made goes, a new ``--out`` folder included).

A runtime whose converter, check or scoring fails costs its row (marked FAILED, with the cause), not the
others' results nor the report. Only what concerns every runtime (Ctrl-C, a full disk, a user error)
stops the run.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import UserError, one_line
from ..outputs import clean_stale, first_missing, write_atomically

METADATA, REPORT_MD, REPORT_JSON = "metadata.yaml", "export.md", "export.json"


class ExportJob:
    def __init__(self, model, meta: dict, out: Path, name: str, threads: int, log, made_top: Path | None = None):
        self.model, self.meta, self.out, self.name, self.threads, self.log = model, meta, Path(out), name, threads, log
        self.torch_map, self.val_images = None, []
        # the folders this run creates (given by the caller when its lock made some already): removed on rollback
        self.made_top = made_top if made_top is not None else first_missing(self.out)
        self.created: list[Path] = []  # artefacts and files this run added (not those it replaced)

    def detector(self, predict):
        from .exported import Detector

        return Detector(predict, self.meta["imgsz"], self.meta["names"])

    def score_torch(self, val_images: list[Path]) -> None:
        from .check import torch_predict
        from .exported import evaluate

        self.val_images = list(val_images)
        if self.val_images:
            self.torch_map = evaluate(self.detector(lambda x: torch_predict(self.model, x)), self.val_images)
            self.log(f"PyTorch: mAP50 {self.torch_map['mAP50']:.3f} on {len(self.val_images)} val images")

    def export_all(self, chosen: list, calib) -> list[dict]:
        self.out.mkdir(parents=True, exist_ok=True)
        clean_stale(self.out, (f"{self.name}-", METADATA, REPORT_MD, REPORT_JSON))
        rows = []
        try:
            for rt in chosen:
                rows.append(self.export_one(rt, calib))
        except BaseException:
            self.rollback()
            raise
        return rows

    def export_one(self, rt, calib) -> dict:
        import yaml

        from .check import check_against_torch
        from .exported import Detector, evaluate

        self.log(f"{rt.name}: exporting ...")
        final = rt.artefact_path(self.out, self.name)
        existed = final.exists()
        try:
            path = rt.export(self.model, self.meta["imgsz"], self.out, calib, name=self.name)
        except UserError:
            raise
        except Exception as e:  # noqa: BLE001  this runtime's converter: its row, not the run
            return self.failed(rt, final, f"export failed: {one_line(e, 200)}")
        if not existed:
            self.created.append(path)
        if not (self.out / METADATA).exists():  # with the first artefact: a converter failing first leaves nothing
            write_atomically(self.out / METADATA, yaml.safe_dump(self.meta, sort_keys=False))
            self.created.append(self.out / METADATA)
        try:
            r = {"runtime": rt.name, "path": str(path),
                 **check_against_torch(self.model, rt, path, self.meta["imgsz"], threads=self.threads)}
            if self.val_images:
                r["map"] = evaluate(Detector.load(path, self.meta["imgsz"], self.threads), self.val_images)
        except UserError:
            raise
        except Exception as e:  # noqa: BLE001
            return self.failed(rt, path, f"check failed: {one_line(e, 200)}")
        self.log(f"{rt.name}: {path} {r['check']} {'ok' if r['ok'] else 'FAILED'}"
                 + (f", mAP50 {r['map']['mAP50']:.3f}" if "map" in r else ""))
        return r

    def failed(self, rt, path: Path, why: str) -> dict:
        self.log(f"{rt.name}: FAILED: {why}")
        return {"runtime": rt.name, "path": str(path), "ok": False, "exported": False, "error": why, "tol": rt.tolerance,
                "max_abs_diff": None, "rel": None, "check": why}

    def rollback(self) -> None:
        import shutil

        for p in reversed(self.created):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
        if self.made_top is not None:
            shutil.rmtree(self.made_top, ignore_errors=True)
        self.created = []

    def report(self, rows: list[dict], earlier: dict | None, weights: Path) -> int:
        exported = [r for r in rows if r.get("exported", True)]
        if not exported:
            self.rollback()
            raise UserError("nothing exported: " + "; ".join(f"{r['runtime']}: {r['error']}" for r in rows))
        now = {r["runtime"] for r in rows}
        kept = [r for r in (earlier or {}).get("exports", []) if r.get("runtime") not in now
                and Path(r.get("path", "")).exists()]  # the same checkpoint and size: earlier rows stay
        rows = kept + rows
        torch_map = self.torch_map or (earlier or {}).get("torch")
        md = table(rows, torch_map)
        self.created += [self.out / n for n in (REPORT_MD, REPORT_JSON) if not (self.out / n).exists()]
        try:  # a new report goes on rollback with the rest, so no report describes rolled-back exports
            write_atomically(self.out / REPORT_MD, f"{weights} at {self.meta['imgsz']} px\n\n{md}")
            write_atomically(self.out / REPORT_JSON, json.dumps(
                {"weights": str(weights), "weights_sha256": self.meta["weights_sha256"], "imgsz": self.meta["imgsz"],
                 "torch": torch_map, "exports": rows}, indent=1))
        except BaseException:  # Ctrl-C or a full disk while writing the report: no exports without one
            self.rollback()
            raise
        self.log(md + f"wrote {self.out / REPORT_MD}, {self.out / REPORT_JSON}")
        failed = [r["runtime"] for r in rows if not r["ok"]]
        if failed:
            raise UserError(f"{', '.join(failed)}: failed or differ from PyTorch beyond the tolerance "
                            f"(see {self.out / REPORT_MD})")
        return 0


def table(rows: list[dict], torch_map: dict | None) -> str:
    head = ("| runtime | artefact | max abs diff vs PyTorch | check | mAP50 | mAP50-95 | mAP50 drop |\n"
            "|---|---|---:|---|---:|---:|---:|\n")
    lines = []
    if torch_map:
        lines.append(f"| PyTorch (fused) | - | - | - | {torch_map['mAP50']:.3f} | {torch_map['mAP50-95']:.3f} | - |")
    for r in rows:
        m = r.get("map")
        score = (f"{m['mAP50']:.3f} | {m['mAP50-95']:.3f} | {torch_map['mAP50'] - m['mAP50']:+.3f}"
                 if m and torch_map else "- | - | -")
        diff = f"{r['max_abs_diff']:.2e}" if r.get("max_abs_diff") is not None else "-"
        lines.append(f"| {r['runtime']} | {Path(r['path']).name} | {diff} | "
                     f"{'ok' if r['ok'] else 'FAILED'}: {r.get('check', '')} | {score} |")
    return head + "\n".join(lines) + "\n"
