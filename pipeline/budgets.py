"""The byte budgets of what a run writes where AWS has a hard limit, in one place.

A rejected row can hold a field of any length, and a run can have any number of files, rows, reasons and
categories; what the pipeline writes about them must still fit where it goes:

- the Extract state's answer passes through Step Functions, which fails an execution whose state payload is
  over 256 KiB with ``States.DataLimitExceeded``, an error no Catch takes
  (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html): it holds counts and keys only,
  the per-file figures go to the manifest in S3;
- the run's etl_runs item: DynamoDB refuses an item over 400 KB, attribute names and values together
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Constraints.html, 1 KB = 1,024 bytes);
- the status email: SNS refuses a message over 256 KB, counted in UTF-8 bytes
  (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html).

So rejection examples are cut to a length with a visible marker (``…[+119,940 chars]``), at most
``EXAMPLES_PER_REASON`` are kept per reason and ``REASONS_KEPT`` reasons (or write errors) by name, the
others counted together; the report-derived values of the run item are sized by DynamoDB's rules before the
write; the email is cut to ``EMAIL_BYTES``. Pure functions only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from pipeline.text import escape_refused

# --- AWS's limits ---------------------------------------------------------------------------------
DYNAMODB_ITEM_LIMIT = 400 * 1024  # bytes of one item by DynamoDB's sizing rules
SNS_MESSAGE_LIMIT = 256 * 1024  # UTF-8 bytes of one published message
STATE_PAYLOAD_LIMIT = 256 * 1024  # UTF-8 bytes of a Step Functions state's input, result or output

# --- our budgets, well inside them ----------------------------------------------------------------
EXAMPLE_ID_CHARS = 60  # characters of an order_id kept in an example
EXAMPLE_CHARS = 200  # characters of one example kept (then the marker)
EXAMPLES_PER_REASON = 5  # N: examples kept per rejection reason or write error (report and run item)
REASONS_KEPT = 20  # K: rejection reasons and write errors kept by name; the others are counted together
REASON_NAME_CHARS = 100  # characters of a reason's or write error's name
CATEGORIES_KEPT = 50  # categories of the run item's aggregates kept by name (most orders first)
RUN_ITEM_VALUES_BYTES = 160 * 1024  # the report-derived values TrackResult writes (rest of the item: < 8 KiB)
EMAIL_BYTES = 64 * 1024  # the status email's body
EMAIL_FIELD_CHARS = 2000  # characters of one value shown in the email (an error message, a cause)
EXTRACT_RESULT_BYTES = 4 * 1024  # the Extract state's answer, whatever the number of files or rows

OTHER_CATEGORIES = "(other categories)"


MARKER_CHARS = 24  # the longest marker clip() adds, "…[+9,999,999,999 chars]" and one to spare


def clip(text: str, keep: int) -> str:
    """``text`` cut after ``keep`` characters with a marker that says how much was cut, e.g.
    ``ABC…[+119,940 chars]``: at most ``keep + MARKER_CHARS`` characters. A text at most ``MARKER_CHARS``
    longer than ``keep`` stays whole, so clipping a clipped text changes nothing."""
    if keep < 0:
        raise ValueError(f"keep must be at least 0, got {keep}")
    removed = len(text) - keep
    if removed <= MARKER_CHARS:
        return text
    return f"{text[:keep]}…[+{removed:,} chars]"


def safe_text(text: Any, keep: int) -> str:
    """A value as text that AWS accepts anywhere (refused characters escaped) cut to ``keep`` characters."""
    return clip(escape_refused(str(text)), keep)


def utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def fit_utf8(text: str, limit: int, note: str) -> str:
    """``text`` whole if it fits in ``limit`` UTF-8 bytes; otherwise its first lines that fit, then one line
    saying how many lines were cut and ``note`` (where the rest can be read)."""
    if utf8_size(text) <= limit:
        return text
    lines = text.splitlines(keepends=True)
    kept: list[str] = []
    used = 0
    reserve = 200 + utf8_size(note)  # the closing line
    for line in lines:
        size = utf8_size(line)
        if used + size > limit - reserve:
            break
        kept.append(line)
        used += size
    if not kept and lines:  # one huge line: keep what fits of it
        kept = [clip(lines[0], max(0, (limit - reserve) // 4)) + "\n"]
    cut = len(lines) - len(kept)
    return "".join(kept) + f"…[cut at {limit:,} bytes: {cut:,} more line(s); {note}]\n"


# --- DynamoDB item size ---------------------------------------------------------------------------


def item_size(attributes: Mapping[str, Any]) -> int:
    """The size DynamoDB counts for an item of plain Python values (str, bool, None, int, float, Decimal,
    bytes, dicts, lists), as boto3 would write them: attribute names plus values
    (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html)."""
    return sum(utf8_size(name) + value_size(value) for name, value in attributes.items())


def value_size(value: Any) -> int:
    """Strings in UTF-8 bytes, numbers one byte per two significant digits plus one, binaries raw,
    booleans and nulls one byte, lists and maps 3 bytes plus one per element plus the elements (with
    their names)."""
    if isinstance(value, str):
        return utf8_size(value)
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, int | float | Decimal):
        return number_size(value)
    if isinstance(value, bytes | bytearray):
        return len(value)
    if isinstance(value, Mapping):
        return 3 + sum(1 + utf8_size(str(name)) + value_size(v) for name, v in value.items())
    if isinstance(value, Iterable):
        return 3 + sum(1 + value_size(v) for v in value)
    raise TypeError(f"DynamoDB has no type for {type(value).__name__} values")


def number_size(number: int | float | Decimal) -> int:
    digits = Decimal(str(number)).normalize().as_tuple().digits if number else (0,)
    return (len(digits) + 1) // 2 + 1


class BudgetError(ValueError):
    """What is about to be written does not fit its budget even after everything optional was dropped."""
