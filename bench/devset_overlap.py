"""How many of the held-out word lists' items the engine's hand tables already hold,
per list group and half: tells whether a half-B score measures understanding that
generalises or only table coverage. Read-only; the lists were written without
looking at the tables and must not be edited to match (or dodge) them.

    python bench/devset_overlap.py [--json out.json]"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import devset  # noqa: E402

GROUPS = ("types/", "colours/", "genders/", "templates/", "zh/types/", "zh/colours/", "zh/genders/")


def table_strings(modules: tuple[str, ...] = ("shopsearch.query.tables", "shopsearch.query.vocab")) -> set[str]:
    """Every lower-cased string in the modules' public containers."""
    out: set[str] = set()

    def walk(o) -> None:
        if isinstance(o, str):
            out.add(o.lower().strip())
        elif isinstance(o, dict):
            for k, v in o.items():
                walk(k)
                walk(v)
        elif isinstance(o, (list, tuple, set, frozenset)):
            for v in o:
                walk(v)

    for name in modules:
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        for attr in dir(mod):
            v = getattr(mod, attr)
            if not attr.startswith("_") and isinstance(v, (dict, list, tuple, set, frozenset)):
                walk(v)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    known = table_strings()
    lists = devset.load_lists()
    halves = devset.split_lists(lists)
    res = {}
    print("list items the engine's tables already hold:")
    for g in GROUPS:
        for h in devset.HALVES:
            ws = sorted({w for k, v in lists.items() if k.startswith(g) for w in v if halves[w] == h})
            hit = [w for w in ws if w.lower() in known]
            res[f"{g}{h}"] = {"items": len(ws), "in_tables": len(hit)}
            print(f"  {g + h:<14} {len(hit):4d} / {len(ws):4d}")
    if a.json:
        a.json.write_text(json.dumps(res, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
