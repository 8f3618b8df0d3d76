"""The dashboard's definitions, loaded from files: ``dashboard.toml`` and one script per query in ``queries/``.

A query file is a Redash "Python" query script whose docstring is TOML front matter between ``+++`` lines:
the query's name and description, its visualizations in Redash's own option format, and each one's place on
the dashboard (a 6-column grid, as Redash's). The script assigns the deployment settings (``SETTINGS``) as
plain constants at the top; ``render`` replaces their values, so Redash and the local runner execute the
same text with the right table and region.
"""

from __future__ import annotations

import ast
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dashboard.runner import check_script

HERE = Path(__file__).resolve().parent
QUERIES_DIR = HERE / "queries"
DASHBOARD_FILE = HERE / "dashboard.toml"
GRID_COLUMNS = 6  # Redash's dashboard grid
VISUALIZATION_TYPES = ("CHART", "COUNTER", "TABLE")
SETTINGS = ("RUNS_TABLE", "REGION", "ENDPOINT_URL", "AS_OF")
FRONT_MATTER = "+++"


class DefinitionError(ValueError):
    """A definition file is malformed; the message names the file and the problem."""


@dataclass(frozen=True)
class Settings:
    """Where the queries read from: the runs table, its region, an optional endpoint, and the day counted
    as today (None: the current UTC date, as in Redash; a fixed date for reproducible output)."""

    runs_table: str
    region: str
    endpoint_url: str | None = None
    as_of: str | None = None

    def values(self) -> dict[str, str | None]:
        return {
            "RUNS_TABLE": self.runs_table,
            "REGION": self.region,
            "ENDPOINT_URL": self.endpoint_url,
            "AS_OF": self.as_of,
        }


@dataclass(frozen=True)
class Position:
    col: int
    row: int
    size_x: int
    size_y: int

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str) -> Position:
        try:
            position = cls(int(data["col"]), int(data["row"]), int(data["sizeX"]), int(data["sizeY"]))
        except (KeyError, TypeError, ValueError):
            raise DefinitionError(f"{where}: position needs integer col, row, sizeX and sizeY") from None
        if position.col < 0 or position.row < 0 or position.size_x < 1 or position.size_y < 1:
            raise DefinitionError(f"{where}: position {data} has a negative offset or an empty size")
        if position.col + position.size_x > GRID_COLUMNS:
            raise DefinitionError(f"{where}: position {data} is wider than the {GRID_COLUMNS}-column grid")
        return position

    def cells(self) -> set[tuple[int, int]]:
        return {
            (c, r)
            for c in range(self.col, self.col + self.size_x)
            for r in range(self.row, self.row + self.size_y)
        }

    def redash_options(self) -> dict[str, Any]:
        """A widget's ``options`` as Redash's dashboard editor saves them."""
        return {
            "isHidden": False,
            "position": {
                "autoHeight": False,
                "col": self.col,
                "row": self.row,
                "sizeX": self.size_x,
                "sizeY": self.size_y,
                "minSizeX": 1,
                "maxSizeX": GRID_COLUMNS,
                "minSizeY": 1,
                "maxSizeY": 1000,
            },
            "parameterMappings": {},
        }


@dataclass(frozen=True)
class Visualization:
    name: str
    type: str
    options: dict[str, Any]
    description: str = ""
    position: Position | None = None


@dataclass(frozen=True)
class QueryDefinition:
    key: str  # the file's stem, stable across renames of the display name
    name: str
    description: str
    visualizations: tuple[Visualization, ...]
    source: str
    path: Path

    def render(self, settings: Settings) -> str:
        """The script as Redash stores and runs it: a header instead of the front matter, settings filled in."""
        tree = ast.parse(self.source)
        lines = self.source.splitlines(keepends=True)
        values = settings.values()
        # Bottom-up, so that replacing a value never shifts the lines of the ones still to replace.
        assignments = sorted(
            _setting_assignments(tree).items(), key=lambda item: item[1].lineno, reverse=True
        )
        for name, node in assignments:
            lines = _replace(lines, node.value, repr(values[name]))
        header = (
            f"# {self.name}: {self.description}\n"
            f"# Managed as code (dashboard/queries/{self.path.name}) and published by `etl dashboard publish`;\n"
            "# changes made here are overwritten by the next publish.\n"
        )
        return header + "\n" + "".join(lines[tree.body[0].end_lineno :]).lstrip("\n")


@dataclass(frozen=True)
class TextWidget:
    text: str
    position: Position


@dataclass(frozen=True)
class DataSource:
    name: str
    type: str
    options: dict[str, Any]

    @property
    def allowed_modules(self) -> tuple[str, ...]:
        return tuple(
            m.strip() for m in str(self.options.get("allowedImportModules", "")).split(",") if m.strip()
        )


@dataclass(frozen=True)
class Placement:
    """One widget of the dashboard: a query's visualization, or a text box."""

    position: Position
    query: QueryDefinition | None = None
    visualization: Visualization | None = None
    text: str = ""


@dataclass(frozen=True)
class DashboardDefinition:
    name: str
    schedule: dict[str, Any]
    data_source: DataSource
    queries: tuple[QueryDefinition, ...]
    text_widgets: tuple[TextWidget, ...] = field(default_factory=tuple)

    def query(self, key: str) -> QueryDefinition:
        for query in self.queries:
            if query.key == key:
                return query
        raise KeyError(key)

    def placements(self) -> list[Placement]:
        """Every widget, top to bottom and left to right."""
        placed = [Placement(t.position, text=t.text) for t in self.text_widgets]
        for query in self.queries:
            placed += [
                Placement(v.position, query, v) for v in query.visualizations if v.position is not None
            ]
        return sorted(placed, key=lambda p: (p.position.row, p.position.col))


def load(dashboard_file: Path = DASHBOARD_FILE, queries_dir: Path = QUERIES_DIR) -> DashboardDefinition:
    spec = _read_toml(dashboard_file)
    try:
        source = spec["data_source"]
        data_source = DataSource(str(source["name"]), str(source["type"]), dict(source["options"]))
        schedule = {
            "interval": int(spec["refresh"]["interval"]),
            "time": spec["refresh"].get("time"),
            "day_of_week": spec["refresh"].get("day_of_week"),
            "until": spec["refresh"].get("until"),
        }
        name = str(spec["name"])
    except (KeyError, TypeError, ValueError) as error:
        raise DefinitionError(f"{dashboard_file.name}: missing or malformed {error}") from None
    text_widgets = tuple(
        TextWidget(str(t["text"]).strip(), Position.from_dict(t.get("position", {}), dashboard_file.name))
        for t in spec.get("text_widgets", [])
    )
    queries = tuple(load_query(path) for path in sorted(queries_dir.glob("*.py")))
    if not queries:
        raise DefinitionError(f"no query definitions in {queries_dir}")
    definition = DashboardDefinition(name, schedule, data_source, queries, text_widgets)
    _check_layout(definition)
    return definition


def load_query(path: Path) -> QueryDefinition:
    source = path.read_text(encoding="utf-8")
    tree = check_script(source, path.name)
    meta = _front_matter(tree, path)
    missing = [name for name in SETTINGS if name not in _setting_assignments(tree)]
    if missing:
        raise DefinitionError(
            f"{path.name}: assign the settings {', '.join(missing)} at the top level (plain constants)"
        )
    visualizations = []
    for index, raw in enumerate(meta.get("visualizations", [])):
        where = f"{path.name}: visualization {index + 1}"
        if raw.get("type") not in VISUALIZATION_TYPES:
            raise DefinitionError(f"{where}: type must be one of {', '.join(VISUALIZATION_TYPES)}")
        if not raw.get("name"):
            raise DefinitionError(f"{where}: a name is needed (it identifies the visualization in Redash)")
        if raw["type"] == "CHART" and not raw.get("options", {}).get("columnMapping"):
            raise DefinitionError(f"{where}: a chart needs options.columnMapping")
        position = Position.from_dict(raw["position"], where) if "position" in raw else None
        visualizations.append(
            Visualization(
                str(raw["name"]),
                str(raw["type"]),
                dict(raw.get("options", {})),
                str(raw.get("description", "")),
                position,
            )
        )
    names = [v.name for v in visualizations]
    if len(set(names)) != len(names):
        raise DefinitionError(f"{path.name}: visualization names must be unique, got {names}")
    try:
        return QueryDefinition(
            path.stem,
            str(meta["name"]),
            str(meta.get("description", "")),
            tuple(visualizations),
            source,
            path,
        )
    except KeyError:
        raise DefinitionError(f"{path.name}: the front matter needs a name") from None


def _front_matter(tree: ast.Module, path: Path) -> dict[str, Any]:
    docstring = ast.get_docstring(tree, clean=True) or ""
    parts = docstring.strip().split(FRONT_MATTER)
    if len(parts) != 3 or parts[0].strip() or parts[2].strip():
        raise DefinitionError(
            f"{path.name}: the docstring must be TOML front matter between {FRONT_MATTER} lines"
        )
    try:
        return tomllib.loads(parts[1])
    except tomllib.TOMLDecodeError as error:
        raise DefinitionError(f"{path.name}: front matter: {error}") from None


def _setting_assignments(tree: ast.Module) -> dict[str, ast.Assign]:
    found: dict[str, ast.Assign] = {}
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id in SETTINGS
        ):
            if not isinstance(node.value, ast.Constant):
                raise DefinitionError(f"line {node.lineno}: {node.targets[0].id} must be a plain constant")
            found[node.targets[0].id] = node
    return found


def _replace(lines: list[str], node: ast.expr, text: str) -> list[str]:
    start, end = node.lineno - 1, node.end_lineno - 1
    # ast's column offsets count UTF-8 bytes, not characters.
    first, last = lines[start].encode(), lines[end].encode()
    replaced = first[: node.col_offset].decode() + text + last[node.end_col_offset :].decode()
    return lines[:start] + [replaced] + lines[end + 1 :]


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise DefinitionError(f"{path}: {error}") from None


def _check_layout(definition: DashboardDefinition) -> None:
    taken: dict[tuple[int, int], str] = {}
    for placement in definition.placements():
        label = placement.visualization.name if placement.visualization else "text widget"
        for cell in placement.position.cells():
            if cell in taken:
                raise DefinitionError(f"{label} overlaps {taken[cell]} at column {cell[0]}, row {cell[1]}")
            taken[cell] = label
