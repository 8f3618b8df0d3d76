"""moto's interpreter parses every JSONPath it applies anew, and jsonpath_ng builds its whole PLY parser for
each parse (about 2 ms): half of a Pass state's time went to re-reading the default ``$`` of its InputPath and
OutputPath (and ResultPath). The parsed expressions are immutable trees, so each path is parsed once and shared."""

from __future__ import annotations

import functools


def install() -> None:
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    for module in (json_path, result_path):
        module.parse = functools.lru_cache(maxsize=4096)(module.parse)  # type: ignore[attr-defined]
