"""Realistic partner order files of any size, with a known share of bad rows and the counts a run must give.

The file is a generator of CSV lines (never held whole), identical for the same seed, day, size, bad rate
and catalog. Each bad row has exactly one defect, so its outcome is known as it is written: the
``Expected`` counts fill in while the lines are consumed and are final when the generator is exhausted.
"""

from __future__ import annotations

import csv
import io
import random
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from pipeline.contract import ORDER_COLUMNS, Product, Reason
from pipeline.runs import Counts
from pipeline.sources import parse_s3_uri, read_catalog

DUPLICATE = "duplicate"
BAD_KINDS: tuple[str, ...] = (*(reason.value for reason in Reason), DUPLICATE)
# Originals a later duplicate row may repeat; bounded so memory does not grow with the file.
_DUPLICATE_POOL = 4096

_FIRST_NAMES = (
    "Alice", "Benjamin", "Chloé", "Diego", "Emma", "Farah", "Grace", "Hiro", "Ingrid", "José", "Kwame",
    "Léa", "Mateus", "Nadia", "Oliver", "Priya", "Quentin", "Rosa", "Søren", "Tomasz", "Uma", "Wei",
    "Yusuf", "Zoë", "Łukasz", "Ayşe", "Björn", "Siobhán",
)  # fmt: skip
_LAST_NAMES = (
    "Martin", "Carter", "Dubois", "Álvarez", "Schmidt", "Khan", "Hopper", "Tanaka", "Johansson",
    "García", "Mensah", "Moreau", "Silva", "Haddad", "O'Brien", "Patel", "Lefèvre", "Núñez", "Nørgaard",
    "Wójcik", "Iyer", "Zhang", "Yılmaz", "Müller", "Ó Súilleabháin", "Kowalski", "Nakamura", "Smith",
)  # fmt: skip
_CURRENCIES = (("EUR", 45), ("USD", 35), ("GBP", 10), ("CHF", 4), ("SEK", 3), ("PLN", 3))
_QUANTITIES = ((1, 50), (2, 20), (3, 12), (4, 8), (5, 6), (10, 4))
_COMBINING_MARKS = [chr(code) for code in range(0x0300, 0x0370)]


@dataclass
class Expected:
    """What a run of the generated file must report."""

    rows: int = 0
    loaded: int = 0
    duplicates_dropped: int = 0
    rejected: dict[str, int] = field(default_factory=dict)  # reason value → rows

    @property
    def bad_rows(self) -> int:
        return sum(self.rejected.values()) + self.duplicates_dropped

    def as_counts(self) -> Counts:
        return Counts(
            extracted=self.rows,
            loaded=self.loaded,
            rejected=sum(self.rejected.values()),
            duplicates_dropped=self.duplicates_dropped,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "loaded": self.loaded,
            "duplicates_dropped": self.duplicates_dropped,
            "rejected": dict(sorted(self.rejected.items())),
        }


class OrderFile:
    """One generated partner file: iterate ``lines()``, then read ``expected``."""

    def __init__(
        self, products: Sequence[Product], *, rows: int, bad_rate: float, seed: int, day: date
    ) -> None:
        if not products:
            raise ValueError("the catalog has no products to order")
        if not 0 <= bad_rate <= 1:
            raise ValueError(f"bad_rate must be between 0 and 1, got {bad_rate}")
        if rows < 0:
            raise ValueError(f"rows must be at least 0, got {rows}")
        self.products = list(products)
        self.rows = rows
        self.bad_rate = bad_rate
        self.seed = seed
        self.day = day
        self.expected = Expected()
        known = {p.product_id for p in self.products}
        self._unknown_product = next(f"P-{n:04d}" for n in range(9999, 0, -1) if f"P-{n:04d}" not in known)

    def lines(self) -> Iterator[str]:
        self.expected = Expected()
        rng = random.Random(self.seed)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")

        def line(values: Sequence[str]) -> str:
            buffer.seek(0)
            buffer.truncate()
            writer.writerow(values)
            return buffer.getvalue()

        yield line(ORDER_COLUMNS)
        pool: list[str] = []
        for number in range(1, self.rows + 1):
            kind = rng.choice(BAD_KINDS) if rng.random() < self.bad_rate else "good"
            values = self._good_values(rng, number)
            if kind == DUPLICATE and not pool:
                kind = "good"
            if kind == DUPLICATE:
                slot = rng.randrange(len(pool))
                values[0] = pool[slot]
                pool[slot] = pool[-1]
                pool.pop()
                self.expected.duplicates_dropped += 1
            elif kind == "good":
                self.expected.loaded += 1
                if len(pool) < _DUPLICATE_POOL:
                    pool.append(values[0])
                else:
                    pool[rng.randrange(_DUPLICATE_POOL)] = values[0]
            else:
                values = self._spoil(rng, Reason(kind), values)
                self.expected.rejected[kind] = self.expected.rejected.get(kind, 0) + 1
            self.expected.rows += 1
            yield line(values)

    def _good_values(self, rng: random.Random, number: int) -> list[str]:
        product = rng.choice(self.products)
        quantity = rng.choices([q for q, _ in _QUANTITIES], [w for _, w in _QUANTITIES])[0]
        currency = rng.choices([c for c, _ in _CURRENCIES], [w for _, w in _CURRENCIES])[0]
        amount = max(product.unit_price * quantity, Decimal("0.01")).quantize(Decimal("0.01"))
        return [
            f"ORD-{self.day:%Y%m%d}-{number:07d}",
            self.day.isoformat(),
            f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}",
            product.product_id,
            str(quantity),
            str(amount),
            currency,
        ]

    def _spoil(self, rng: random.Random, reason: Reason, values: list[str]) -> list[str]:
        """The row with exactly the one defect that makes the contract reject it for ``reason``."""
        order_id, _, customer, _, _, amount, _ = values
        match reason:
            case Reason.MISSING_FIELD:
                return values[:-1]
            case Reason.UNEXPECTED_FIELD:
                return [*values, rng.choice(["gift-wrap", "", "note: leave at door"])]
            case Reason.MISSING_ORDER_ID:
                values[0] = rng.choice(["", "  "])
            case Reason.INVALID_ORDER_ID:
                values[0] = rng.choice([f"{order_id}#", order_id.replace("-", " ", 1), f"{order_id}/é"])
            case Reason.INVALID_DATE:
                values[1] = rng.choice([f"{self.day:%d/%m/%Y}", f"{self.day:%Y}-02-30", "yesterday", ""])
            case Reason.INVALID_CUSTOMER:
                values[2] = rng.choice(
                    ["", f"{customer}\u202e", "x" * 201, f"{customer}\x7f", zalgo(customer, rng)]
                )
            case Reason.MISSING_PRODUCT_ID:
                values[3] = ""
            case Reason.UNKNOWN_PRODUCT:
                values[3] = self._unknown_product
            case Reason.INVALID_QUANTITY:
                values[4] = rng.choice(["0", "-1", "two", "1.5", "100001", ""])
            case Reason.INVALID_AMOUNT:
                values[5] = rng.choice([f"{amount}5", "abc", "1e9", "NaN", "1,000.00", ""])
            case Reason.NEGATIVE_AMOUNT:
                values[5] = f"-{amount}"
            case Reason.INVALID_CURRENCY:
                values[6] = rng.choice(["BTC", "US$", "XXX", "EURO", ""])
            case Reason.REFUSED_TEXT:
                # Anywhere in the row: AWS refuses the record whole. U+001F is whitespace to str.strip().
                column = rng.randrange(len(values))
                values[column] += rng.choice(["\ufffe", "\uffff", "\x00", "\x1b", "\x1f"])
        return values


def zalgo(text: str, rng: random.Random, marks_per_char: int = 40) -> str:
    """``text`` buried under combining marks with a right-to-left override: a unicode bomb of a name."""
    out = [char + "".join(rng.choices(_COMBINING_MARKS, k=marks_per_char)) for char in text]
    out.insert(len(out) // 2, "\u202e")
    return "".join(out)


def load_products(path: str | Path) -> list[Product]:
    with open(path, "rb") as stream:
        return read_catalog(stream, str(path))


def write_lines(lines: Iterable[str], out: str, *, s3: Any = None, stdout: TextIO | None = None) -> None:
    """Stream ``lines`` to ``-`` (stdout), a local path or ``s3://bucket/key`` (multipart for big files)."""
    if out == "-":
        (stdout or sys.stdout).writelines(lines)
    elif out.startswith("s3://"):
        if s3 is None:
            raise ValueError(f"writing to {out} needs an S3 client")
        bucket, key = parse_s3_uri(out)
        # Buffered so every read returns the full part size: S3 refuses multipart parts under 5 MiB.
        stream = io.BufferedReader(LineReader(lines), buffer_size=1024 * 1024)
        s3.upload_fileobj(stream, bucket, key, ExtraArgs={"ContentType": "text/csv"})
    else:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="") as target:
            target.writelines(lines)


class LineReader(io.RawIOBase):
    """A read-only binary stream over text lines, so upload_fileobj can upload a generator in parts."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = iter(lines)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._pending:
            line = next(self._lines, None)
            if line is None:
                return 0
            self._pending = line.encode("utf-8")
        size = min(len(target), len(self._pending))
        target[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size
