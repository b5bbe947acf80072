"""`--where "id % 5 == 0"`: a small, safe row predicate over catalogue columns.

Parsed with `ast` and evaluated from a whitelist, never with eval()."""

from __future__ import annotations

import ast
import operator
from typing import Any, Callable, Mapping

_BIN = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.Mod: operator.mod, ast.FloorDiv: operator.floordiv}
_CMP = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
        ast.Gt: operator.gt, ast.GtE: operator.ge, ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b}


def _num(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return int(v)
        except ValueError:
            try:
                return float(v)
            except ValueError:
                return v
    return v


def compile_where(expr: str) -> Callable[[Mapping[str, Any]], bool]:
    """Compile once; the returned function takes a raw catalogue row."""
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as e:
        raise ValueError(f"--where: cannot parse {expr!r}: {e.msg}") from None

    def ev(node: ast.AST, row: Mapping[str, Any]) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body, row)
        if isinstance(node, ast.BoolOp):
            vals = (ev(v, row) for v in node.values)
            return all(vals) if isinstance(node.op, ast.And) else any(vals)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return not ev(node.operand, row)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand, row)
        if isinstance(node, ast.BinOp) and type(node.op) in _BIN:
            return _BIN[type(node.op)](ev(node.left, row), ev(node.right, row))
        if isinstance(node, ast.Compare):
            left = ev(node.left, row)
            for op, comp in zip(node.ops, node.comparators):
                right = ev(comp, row)
                if type(op) not in _CMP or not _CMP[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.Name):
            if node.id not in row:
                raise ValueError(f"--where: unknown column {node.id!r}")
            return _num(row[node.id])
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, (ast.Tuple, ast.List)):
            return [ev(e, row) for e in node.elts]
        raise ValueError(f"--where: {type(node).__name__} is not allowed")

    return lambda row: bool(ev(tree, row))
