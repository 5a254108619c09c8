"""Is the yardstick's budget big enough? The same runs again with the budget doubled should move neither model
much, nor the gap between two of them.

The budget is doubled either in epochs or in training pictures an epoch (``yardstick --epochs`` or ``--train``
at twice the recipe's), everything else of the recipe alike. Both recipes' runs are rows of ``yardstick.json``
with their whole recipe, so the check below can be recomputed from the table by anyone. For each pair of
recipes that differ only by a doubled budget, and each two configs run at the same size and seed under both:
each model's gain from B to 2B (best-epoch mAP50-95) and how far the gap between the two configs moved. The
check passes when the gap moves by at most 0.02 mAP50-95 and neither model gains more than 0.05: a ruler
whose readings still change with more training would not be read yet.
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

GAP_TOL, GAIN_TOL = 0.02, 0.05
BUDGETS = {"epochs": "epochs x2", "train": "train pictures x2"}
METRIC = "mAP50-95"
_EPS = 1e-9  # the bounds are inclusive


def doubled(small: dict, big: dict) -> str | None:
    """The budget (``epochs`` or ``train``) that recipe ``big`` doubles of recipe ``small``, their names aside and
    everything else alike; else None."""
    a = {k: v for k, v in small.items() if k != "name"}
    b = {k: v for k, v in big.items() if k != "name"}
    diff = [k for k in a.keys() | b.keys() if a.get(k) != b.get(k)]
    if len(diff) != 1 or diff[0] not in BUDGETS:
        return None
    k = diff[0]
    ok = all(isinstance(r.get(k), int) and not isinstance(r.get(k), bool) for r in (a, b)) and b[k] == 2 * a[k]
    return k if ok else None


def _check(small: str, big: str, budget: str, imgsz: int, seed: int, a: str, b: str | None, by: dict) -> dict:
    def m(recipe, cfg):
        return by[(recipe, cfg, imgsz, seed)][METRIC]

    c = {"budget": budget, "small": small, "big": big, "imgsz": imgsz, "seed": seed, "cfg_a": a, "cfg_b": b,
         "gain_a": m(big, a) - m(small, a), "gain_b": None, "gap_small": None, "gap_big": None, "gap_moved": None}
    if b is not None:
        c.update(gain_b=m(big, b) - m(small, b), gap_small=m(small, a) - m(small, b), gap_big=m(big, a) - m(big, b))
        c["gap_moved"] = c["gap_big"] - c["gap_small"]
    gains = [g for g in (c["gain_a"], c["gain_b"]) if g is not None]
    c["ok"] = (all(g <= GAIN_TOL + _EPS for g in gains)
               and (c["gap_moved"] is None or abs(c["gap_moved"]) <= GAP_TOL + _EPS))
    return c


def compare(rows: list[dict]) -> list[dict]:
    """One check per (B recipe, 2B recipe, size, seed, two configs) the rows hold under both recipes (one config
    alone at a size and seed: its gain only), in the rows' order."""
    recipes: dict[str, dict] = {}
    by: dict[tuple, dict] = {}
    for r in rows:
        recipes.setdefault(r["recipe"]["name"], r["recipe"])
        by[(r["recipe"]["name"], r["cfg"], r["imgsz"], r["seed"])] = r
    checks = []
    for (small, rs), (big, rb) in ((x, y) for x in recipes.items() for y in recipes.items()):
        budget = doubled(rs, rb)
        if budget is None:
            continue
        groups: dict[tuple, list[str]] = {}
        for name, cfg, imgsz, seed in by:
            if name == small and (big, cfg, imgsz, seed) in by:
                groups.setdefault((imgsz, seed), []).append(cfg)
        for (imgsz, seed), cfgs in groups.items():
            for a, b in (list(combinations(cfgs, 2)) or [(cfgs[0], None)]):
                checks.append(_check(small, big, budget, imgsz, seed, a, b, by))
    return checks


def _f(v: float | None) -> str:
    return "-" if v is None else f"{v:+.3f}"


def markdown(checks: list[dict]) -> str:
    """The checks as a table under a heading that says the rule, and how many passed."""
    passed = sum(c["ok"] for c in checks)
    lines = [f"**Is the budget enough?** The same runs at twice the budget: the check passes when the gap between "
             f"two configs moves by at most {GAP_TOL} {METRIC} and neither model gains more than {GAIN_TOL}. "
             f"{passed} of {len(checks)} pass.", "",
             "| doubled | recipe B -> 2B | imgsz | seed | configs (a, b) | gain a | gain b | gap a-b at B "
             "| at 2B | gap moved | check |", "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---|"]
    for c in checks:
        cfgs = Path(c["cfg_a"]).stem + (f", {Path(c['cfg_b']).stem}" if c["cfg_b"] else "")
        lines.append(f"| {BUDGETS[c['budget']]} | {c['small']} -> {c['big']} | {c['imgsz']} | {c['seed']} | {cfgs} "
                     f"| {_f(c['gain_a'])} | {_f(c['gain_b'])} | {_f(c['gap_small'])} | {_f(c['gap_big'])} "
                     f"| {_f(c['gap_moved'])} | {'pass' if c['ok'] else 'FAIL'} |")
    return "\n".join(lines)
