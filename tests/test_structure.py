"""The code's shape, checked: no import cycles between shopsearch's modules, no private
name imported from another module, and one tokenizer whose output does not depend on
what the process did before."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "shopsearch"


def _modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        parts = p.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = p
    return out


def _imports(path: Path, top_level_only: bool) -> list[tuple[str, list[str]]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    out = []
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
    return out


def test_no_import_cycles_between_modules():
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        for target, names in _imports(path, top_level_only=True):
            if not target.startswith("shopsearch"):
                continue
            for t in [f"{target}.{n}" for n in names] + [target]:
                if t in mods and t != m:
                    graph[m].add(t)
                    break
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for t in graph[m]:
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t):] + [t] if t in stack else [m, t])
            elif t not in state:
                visit(t, stack + [t])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, cycles


def test_no_private_names_imported_across_modules():
    bad = []
    for m, path in _modules().items():
        for target, names in _imports(path, top_level_only=False):
            if target.startswith("shopsearch") and target != m:
                bad += [f"{m}: from {target} import {n}" for n in names if n.startswith("_") and not n.endswith("__")]
    for path in (ROOT / "bench").glob("*.py"):
        for target, names in _imports(path, top_level_only=False):
            if target.startswith("shopsearch"):
                bad += [f"bench/{path.name}: from {target} import {n}" for n in names if n.startswith("_")]
    assert not bad, bad


TEXTS = ["男士红色跑步鞋", "女士黑色手提包 Women Black Handbag", "Turtle Check Men Navy Blue Shirt", "不要运动款的黑色鞋"]
BEFORE = {
    "fresh": "",
    "after parsing": "from shopsearch.query.parser import parse\nfrom shopsearch.query.vocab import Vocabulary\n"
                     "v = Vocabulary.build(['Shirts'], ['Red'], ['Men'], [], ['Men Red Shirt'])\n"
                     "[parse(t, v) for t in ('男士红色跑步鞋', '红色连衣裙', 'black shoes')]\n",
    "after a vocabulary": "from shopsearch.query.vocab import Vocabulary\n"
                          "v = Vocabulary.build(['跑步鞋'], ['红色'], ['男士'], [], ['男士红色跑步鞋', '跑步 鞋'])\n"
                          "v.suggest('红'); v.lexicon\n",
}


def test_tokens_do_not_depend_on_what_the_process_did_before():
    outs = {}
    for name, prelude in BEFORE.items():
        code = prelude + ("import json\nfrom shopsearch.index.lexical import tokenize, tokenizer\n"
                          f"print(json.dumps([tokenizer().id] + [tokenize(t) for t in {TEXTS!r}]))")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert r.returncode == 0, r.stderr
        outs[name] = json.loads(r.stdout.strip().splitlines()[-1])
    assert outs["fresh"] == outs["after parsing"] == outs["after a vocabulary"], outs
    assert outs["fresh"][1] == ["男士", "红色", "跑步鞋"]  # the table's words segment whole
    assert "shirt" in outs["fresh"][3] and "navy" in outs["fresh"][3]


def test_an_index_records_its_tokenizer(small_index, tmp_path):
    import shutil

    import pytest

    from shopsearch.index.base import IndexMismatch, open_index
    from shopsearch.index.lexical import tokenizer

    idx = tmp_path / "idx"
    shutil.copytree(small_index, idx)  # a copy: other tests' engines keep the shared index open
    ix = open_index(idx)
    assert ix.get_meta("tokenizer") == tokenizer().id
    ix.set_meta("tokenizer", "jieba-0.1+0w-other")
    with pytest.raises(IndexMismatch, match="tokenized with"):
        open_index(idx)
