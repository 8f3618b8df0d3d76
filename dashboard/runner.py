"""Run a Redash "Python" query script here, the way Redash's python query runner runs it.

Redash (redash/query_runner/python.py) compiles the script with RestrictedPython and executes it with
``exec(code, restricted_globals, script_locals)``. What a script can rely on there, and so all it gets here:

- separate globals and locals: top-level names live in the locals, so a function, lambda or comprehension
  body cannot see them (it looks in the globals); only the outermost iterable of a comprehension can;
- a short list of builtins (no ``getattr`` tricks, ``type``, ``open``, ``hasattr``, ``iter`` ...);
- ``import`` of the modules in the data source's ``allowedImportModules`` only;
- no name or attribute starting with ``_`` (RestrictedPython refuses to compile it);
- ``print`` goes to the result's log; the helpers ``add_result_column``/``add_result_row`` and the
  ``TYPE_*`` constants are globals;
- the outcome is the local ``result``: a non-empty dict with ``columns`` and ``rows`` lists, stored as JSON.

A script that passes here runs unchanged in Redash; one that breaks a rule fails here as it would there.
"""

from __future__ import annotations

import ast
import builtins
import datetime
import decimal
import importlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

COLUMN_TYPES = ("integer", "float", "boolean", "string", "datetime", "date")

# RestrictedPython's safe_builtins plus the ones Redash's runner adds.
ALLOWED_BUILTINS = [
    "None",
    "False",
    "True",
    "abs",
    "all",
    "any",
    "bool",
    "bytes",
    "callable",
    "chr",
    "complex",
    "dict",
    "divmod",
    "enumerate",
    "filter",
    "float",
    "hash",
    "hex",
    "id",
    "int",
    "isinstance",
    "issubclass",
    "len",
    "list",
    "map",
    "max",
    "min",
    "next",
    "oct",
    "ord",
    "pow",
    "range",
    "repr",
    "reversed",
    "round",
    "set",
    "slice",
    "sorted",
    "str",
    "sum",
    "tuple",
    "zip",
    "getattr",
    "setattr",
    "ArithmeticError",
    "AssertionError",
    "AttributeError",
    "BaseException",
    "Exception",
    "IndexError",
    "KeyError",
    "LookupError",
    "NameError",
    "NotImplementedError",
    "OverflowError",
    "RuntimeError",
    "StopIteration",
    "TypeError",
    "ValueError",
    "ZeroDivisionError",
]


class ScriptError(Exception):
    """A query script would not compile or run in Redash; the message says where and why."""


@dataclass(frozen=True)
class QueryResult:
    columns: list[dict[str, str]]
    rows: list[dict[str, Any]]
    log: list[str] = field(default_factory=list)

    @property
    def column_names(self) -> list[str]:
        return [c["name"] for c in self.columns]

    def as_redash(self) -> dict[str, Any]:
        return {"columns": self.columns, "rows": self.rows, "log": self.log}


def check_script(source: str, filename: str = "<query>") -> ast.Module:
    """Parse a script and refuse what RestrictedPython would refuse to compile."""
    try:
        tree = ast.parse(source, filename)
    except SyntaxError as error:
        raise ScriptError(f"{filename}:{error.lineno}: {error.msg}") from None
    for node in ast.walk(tree):
        for name, line in _names(node):
            if name.startswith("_"):
                raise ScriptError(
                    f"{filename}:{line}: {name!r} starts with '_', which Redash's sandbox refuses"
                )
        if isinstance(node, ast.Global | ast.Nonlocal):
            raise ScriptError(
                f"{filename}:{node.lineno}: global/nonlocal are not allowed in Redash's sandbox"
            )
    return tree


def run_script(source: str, allowed_modules: Iterable[str], filename: str = "<query>") -> QueryResult:
    """Execute a query script as Redash would and return its result as Redash stores it (JSON values)."""
    tree = check_script(source, filename)
    allowed = {m.strip() for m in allowed_modules if m.strip()}
    log: list[str] = []

    def guarded_import(name: str, globals_=None, locals_=None, fromlist=(), level=0):
        if name not in allowed:
            raise ScriptError(f"'{name}' is not configured as a supported import module")
        return importlib.import_module(name)

    def collect_print(*objects: Any, **_: Any) -> None:
        text = " ".join(str(o) for o in objects)
        if text.strip():
            log.append(text)

    sandbox_builtins = {name: getattr(builtins, name) for name in ALLOWED_BUILTINS if hasattr(builtins, name)}
    sandbox_builtins["__import__"] = guarded_import
    sandbox_builtins["print"] = collect_print
    script_globals: dict[str, Any] = {
        "__builtins__": sandbox_builtins,
        "add_result_column": _add_result_column,
        "add_result_row": _add_result_row,
        **{f"TYPE_{t.upper()}": t for t in COLUMN_TYPES},
    }
    script_locals: dict[str, Any] = {"result": {"rows": [], "columns": [], "log": []}}
    try:
        exec(compile(tree, filename, "exec"), script_globals, script_locals)
    except ScriptError:
        raise
    except Exception as error:
        raise ScriptError(f"{filename}: {type(error).__name__}: {error}") from error
    result = script_locals.get("result")
    _validate(result, filename)
    stored = json.loads(json.dumps(result, default=_json_default))
    return QueryResult(columns=stored["columns"], rows=stored["rows"], log=log)


def _validate(result: Any, filename: str) -> None:
    # The same checks, in the same order, as Redash's Python.validate_result.
    if not result:
        raise ScriptError(f"{filename}: local variable `result` should not be empty")
    if not isinstance(result, dict):
        raise ScriptError(f"{filename}: local variable `result` should be of type `dict`")
    for key in ("rows", "columns"):
        if key not in result:
            raise ScriptError(f"{filename}: missing `{key}` field in `result` dict")
        if not isinstance(result[key], list):
            raise ScriptError(f"{filename}: `{key}` field should be of type `list`")
    names = []
    for column in result["columns"]:
        if column.get("type") not in COLUMN_TYPES:
            raise ScriptError(f"{filename}: column {column.get('name')!r} has type {column.get('type')!r}")
        names.append(column["name"])
    for index, row in enumerate(result["rows"]):
        unknown = set(row) - set(names)
        if unknown:
            raise ScriptError(f"{filename}: row {index} has values for undeclared columns {sorted(unknown)}")


def _add_result_column(result: dict, column_name: str, friendly_name: str, column_type: str) -> None:
    if column_type not in COLUMN_TYPES:
        raise ScriptError(f"'{column_type}' is not a supported column type")
    result.setdefault("columns", []).append(
        {"name": column_name, "friendly_name": friendly_name, "type": column_type}
    )


def _add_result_row(result: dict, values: dict) -> None:
    result.setdefault("rows", []).append(values)


def _json_default(value: Any) -> Any:
    # What Redash's JSON encoder does with the values boto3 hands back.
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    if isinstance(value, set):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _names(node: ast.AST) -> list[tuple[str, int]]:
    line = getattr(node, "lineno", 0)
    if isinstance(node, ast.Name):
        return [(node.id, line)]
    if isinstance(node, ast.Attribute):
        return [(node.attr, line)]
    if isinstance(node, ast.arg):
        return [(node.arg, line)]
    if isinstance(node, ast.FunctionDef | ast.ClassDef):
        return [(node.name, line)]
    if isinstance(node, ast.alias):
        return [(node.asname or node.name, line)]
    if isinstance(node, ast.ExceptHandler) and node.name:
        return [(node.name, line)]
    return []
