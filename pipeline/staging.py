"""Staged records, the gzip JSON-lines chunks that hold them, and the run's manifest.

Extract writes chunks of bounded size and then the manifest; the Glue job reads only the chunks the manifest
lists, so a partial earlier attempt of the extract leaves nothing the load would pick up.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

OriginKind = Literal["file", "retry"]
# A retried record is older than any row of today's file: today's version wins.
_KIND_RANK = {"retry": 0, "file": 1}


@dataclass(frozen=True)
class Origin:
    """Where a staged record came from, and its retry history."""

    kind: OriginKind
    source: str  # s3://bucket/key or https URL of the file the record was read from (kept through retries)
    line: int  # 1-based data row number within its source (header excluded)
    file_index: int = 0  # position of the source among the run's files, in key order
    attempt: int = 0  # load attempts already made (0 for a fresh row)
    first_failed_run: str | None = None
    last_error: str | None = None

    def version(self) -> tuple[int, str, int, int]:
        """Sort key of a record's versions: the greatest is the newest, deterministically."""
        run = self.first_failed_run or ""
        return (_KIND_RANK[self.kind], run, self.file_index, self.line)

    def version_label(self) -> str:
        """The version as stored with a loaded item, e.g. ``file/-/0/17`` or ``retry/2026-11-21-ab12/0/5``."""
        _, run, file_index, line = self.version()
        return f"{self.kind}/{run or '-'}/{file_index}/{line}"

    def describe(self) -> str:
        where = f"row {self.line} of {self.source}"
        if self.kind == "file":
            return where
        return f"{where}, retry {self.attempt} (first failed in run {self.first_failed_run or '?'})"


class StagingError(Exception):
    """The staged data of a run is missing or inconsistent (no manifest, a lost chunk): the load stops."""


@dataclass(frozen=True)
class StagedRecord:
    raw: dict[str, Any]  # column → text as read from the CSV (None: missing column; "_extra": surplus values)
    origin: Origin

    def to_json(self) -> str:
        # vars() of the flat Origin is what asdict() answers, without its deep copy (half the time per record).
        return json.dumps(
            {"raw": self.raw, "origin": dict(vars(self.origin))}, ensure_ascii=False, separators=(",", ":")
        )

    @classmethod
    def from_json(cls, line: str | bytes) -> StagedRecord:
        return cls.from_dict(json.loads(line))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StagedRecord:
        return cls(raw=data["raw"], origin=Origin(**data["origin"]))


@dataclass(frozen=True)
class Chunk:
    key: str
    records: int
    bytes: int


@dataclass(frozen=True)
class SourceStats:
    uri: str
    rows: int
    bytes: int


@dataclass
class Manifest:
    run_id: str
    run_date: str
    chunks: list[Chunk] = field(default_factory=list)
    sources: list[SourceStats] = field(default_factory=list)
    catalog_key: str | None = None
    extracted: int = 0
    retried_in: int = 0

    @property
    def staged_records(self) -> int:
        return self.extracted + self.retried_in

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        data = json.loads(text)
        return cls(
            run_id=data["run_id"],
            run_date=data["run_date"],
            chunks=[Chunk(**c) for c in data.get("chunks", [])],
            sources=[SourceStats(**s) for s in data.get("sources", [])],
            catalog_key=data.get("catalog_key"),
            extracted=int(data.get("extracted", 0)),
            retried_in=int(data.get("retried_in", 0)),
        )


GZIP_LEVEL = 6  # zlib's default: a third of level 9's time for JSON lines, about 5 % larger
_LINES_PER_WRITE = 1000


def encode_lines(lines: Iterable[str]) -> bytes:
    """gzip JSON lines, deterministic (no timestamp in the gzip header) so rewrites are byte-identical.

    Lines are compressed a thousand at a time: one call into zlib per line costs more than the compression.
    """
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, compresslevel=GZIP_LEVEL) as out:
        group: list[str] = []
        for line in lines:
            group.append(line)
            if len(group) == _LINES_PER_WRITE:
                out.write(("\n".join(group) + "\n").encode("utf-8"))
                group = []
        if group:
            out.write(("\n".join(group) + "\n").encode("utf-8"))
    return buffer.getvalue()


def decode_lines(data: bytes) -> Iterator[str]:
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
        for line in io.TextIOWrapper(stream, encoding="utf-8"):
            if line.strip():
                yield line


def chunked(
    records: Iterable[StagedRecord], max_records: int, max_bytes: int = 64 * 1024 * 1024
) -> Iterator[list[str]]:
    """Group records into chunks of at most ``max_records`` records and about ``max_bytes`` of JSON."""
    batch: list[str] = []
    size = 0
    for record in records:
        line = record.to_json()
        if batch and (len(batch) >= max_records or size + len(line) > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(line)
        size += len(line) + 1
    if batch:
        yield batch
