"""The day's sources, read as streams: the partner's order files and the product catalog.

A source is an ``s3://bucket/prefix/`` (every ``*.csv`` under it, in key order) or one ``https://`` URL.
Files are read block by block through an incremental UTF-8 decoder into ``csv.DictReader``, so memory is
bounded by a block and a row whatever the size of the file. A file that is not CSV text with the contract's
header (binary content, UTF-16, a header row that is not UTF-8) fails the run with a typed error that names
the file and says what to do; the class names are what the state machine and the failure record show.

One bad row never fails a file: a data row with bytes that are not UTF-8 or a NUL character is read
like any other, so the contract rejects that row alone (``refused_text``) and the rest of the file loads.
Undecodable bytes are kept out of the record's text (U+FFFD stands in their place, and the record lists
the first such byte of each column under ``NOT_UTF8_KEY``), so every record stays valid UTF-8 on its way
through staging, reports and queues.
"""

from __future__ import annotations

import codecs
import csv
import re
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from botocore.exceptions import ClientError

from pipeline.contract import (
    CATALOG_COLUMNS,
    EXTRA_KEY,
    NOT_UTF8_KEY,
    HeaderError,
    Product,
    check_header,
    parse_product,
)
from pipeline.text import escape_refused

BLOCK_SIZE = 256 * 1024
# A "line" this long without a newline is a binary or broken file; stop before it fills the memory.
MAX_LINE_CHARS = 8 * 1024 * 1024
# A field may be as long as a line: the contract then rejects its row, and the file stays readable (csv's
# default limit, 131,072 characters, failed the whole file on one long field).
csv.field_size_limit(MAX_LINE_CHARS)
# What the "surrogateescape" decoder makes of a byte that is not UTF-8: U+DC80..U+DCFF for 0x80..0xFF.
_UNDECODED = re.compile("[\udc80-\udcff]")

# File signatures of what partners send by mistake instead of a CSV export.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"PK\x03\x04", "a zip archive (an .xlsx workbook is one)"),
    (b"%PDF", "a PDF document"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy Office document (.xls)"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"PAR1", "a Parquet file"),
    (b"\xfd7zXZ\x00", "xz-compressed data"),
)
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_FIX = "fix the file (a plain UTF-8 CSV export with a header row), upload it again and re-run the day"


class SourceError(Exception):
    """A source cannot be read as the contract's CSV: the run fails and nothing of it is loaded."""


class EncodingError(SourceError):
    """The file is not UTF-8 text."""


class NotCsvError(SourceError):
    """The file is binary (compressed, an archive, a document) or not parseable as CSV."""


class UnsupportedSourceError(SourceError):
    """The configured source is neither an s3:// location nor an https:// URL."""


class SourceUnavailableError(SourceError):
    """The source exists in the configuration but could not be read (permissions, server error)."""


class CatalogMissingError(SourceError):
    """There are orders to load but no product catalog to join them with."""


class CatalogError(SourceError):
    """A catalog row is unusable; the catalog is reference data we own, so it is fixed, not rejected."""


Opener = Callable[[str], BinaryIO]


@dataclass(frozen=True)
class SourceFile:
    """One file of a source; ``open()`` starts streaming its bytes."""

    uri: str
    index: int  # position among the day's files, in key order
    open: Callable[[], BinaryIO]


def https_opener(context: ssl.SSLContext | None = None, timeout: float = 60) -> Opener:
    """Open https:// URLs only: redirects to any other scheme are refused as well."""
    director = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.HTTPSHandler(context=context or ssl.create_default_context()),
        _HttpsOnlyRedirects(),
        urllib.request.HTTPErrorProcessor(),
        urllib.request.HTTPDefaultErrorHandler(),
    ):
        director.add_handler(handler)

    def open_url(url: str) -> BinaryIO:
        _require_https(url)
        return director.open(url, timeout=timeout)

    return open_url


def order_files(source: str, s3: Any, open_url: Opener | None = None) -> list[SourceFile]:
    """The day's order files in key order; a prefix without CSV files (or a URL answering 404) is no file."""
    scheme = urlsplit(source).scheme
    if scheme == "s3":
        bucket, prefix = parse_s3_uri(source)
        keys = _list_csv_keys(s3, bucket, prefix, source)
        # The URI names the file's records in reports, retry messages and emails: an S3 key may hold
        # characters SQS and SNS refuse, so they are escaped there (the key itself opens the object).
        return [
            SourceFile(escape_refused(f"s3://{bucket}/{key}"), index, _s3_opener(s3, bucket, key))
            for index, key in enumerate(keys)
        ]
    opener = open_url or https_opener()
    first = _open_https(opener, source)
    if first is None:
        return []
    # The response is already open (that is how a missing file is told apart): hand it out once.
    responses = iter([first])
    return [SourceFile(source, 0, lambda: next(responses, None) or _reopen_https(opener, source))]


def open_catalog(source: str, s3: Any, open_url: Opener | None = None) -> BinaryIO | None:
    """The catalog's byte stream, or None when it does not exist."""
    if urlsplit(source).scheme == "s3":
        bucket, key = parse_s3_uri(source)
        try:
            return s3.get_object(Bucket=bucket, Key=key)["Body"]
        except ClientError as error:
            if _error_code(error) in {"NoSuchKey", "404"}:
                return None
            raise _unavailable(source, error) from error
    return _open_https(open_url or https_opener(), source)


class CsvStream:
    """The rows of one CSV file as dicts of the contract's columns, read incrementally.

    A missing value is None, values beyond the header are a list under ``_extra`` (csv.DictReader's
    restval/restkey), and columns outside the contract are dropped. A row with bytes that are not UTF-8
    has U+FFFD in their place and ``{column: "0xE9"}`` under ``NOT_UTF8_KEY`` (the contract rejects it).
    ``rows`` and ``bytes_read`` are final once iteration ends.
    """

    def __init__(self, stream: BinaryIO, uri: str, columns: tuple[str, ...], block_size: int = BLOCK_SIZE):
        self.uri = uri
        self.columns = columns
        self.rows = 0
        self.bytes_read = 0
        self._blocks = iter(lambda: stream.read(block_size), b"")
        # Set once the decoder met a byte that is not UTF-8: only then are rows searched for one.
        self._undecoded = False

    def __iter__(self) -> Iterator[dict[str, Any]]:
        reader = csv.DictReader(self._lines(), restval=None, restkey=EXTRA_KEY)
        try:
            header = reader.fieldnames
            self._check_header_text(header or ())
            try:
                check_header(list(header) if header else None, self.columns, self.uri)
            except HeaderError as error:
                raise HeaderError(
                    f"{error}. Fix the header row (or ask the sender for a file with these columns), "
                    "upload it again and re-run the day"
                ) from None
            reader.fieldnames = [name.strip().lstrip("\ufeff").lower() for name in header or ()]
            for row in reader:
                self.rows += 1
                record = {column: row.get(column) for column in self.columns}
                extra = row.get(EXTRA_KEY)
                if extra:
                    record[EXTRA_KEY] = extra
                yield _mark_undecoded(record) if self._undecoded else record
        except csv.Error as error:
            raise NotCsvError(
                f"{self.uri} is not a valid CSV file ({error}, near line {reader.line_num}): {_FIX}"
            ) from None

    def _check_header_text(self, header: Iterable[str]) -> None:
        """A header row that is not UTF-8 text, or holds a NUL, is no CSV header: the file is refused."""
        for name in header:
            if "\x00" in name:
                raise NotCsvError(
                    f"{self.uri} is not a CSV file: its header row has a NUL byte (binary content): {_FIX}"
                )
            undecoded = _UNDECODED.search(name)
            if undecoded:
                raise EncodingError(
                    f"{self.uri} is not UTF-8 text (its header row has the byte {_byte(undecoded.group())}): "
                    "re-export it as UTF-8 (Excel: 'CSV UTF-8'; it is probably Latin-1 or Windows-1252), "
                    "upload it again and re-run the day"
                )

    def _lines(self) -> Iterator[str]:
        """Text lines split only at '\\n' (csv treats the end of each string as the end of a line)."""
        pending = ""
        for text in self._text():
            text = pending + text
            start = 0
            while (end := text.find("\n", start)) >= 0:
                yield text[start : end + 1]
                start = end + 1
            pending = text[start:]
            if len(pending) > MAX_LINE_CHARS:
                raise NotCsvError(
                    f"{self.uri} is not a CSV file: more than {MAX_LINE_CHARS} characters without "
                    f"a line break: {_FIX}"
                )
        if pending:
            yield pending

    def _text(self) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
        first = True
        for block in self._blocks:
            offset = self.bytes_read
            self.bytes_read += len(block)
            if offset == 0:
                _check_signature(block, self.uri)
            text = self._seen(decoder.decode(block))
            if first and text:
                text = text.removeprefix("\ufeff")  # a BOM (Excel's "CSV UTF-8") is not data
                first = False
            yield text
        # A file that ends inside a multi-byte character: its last bytes are undecodable, in the last row.
        yield self._seen(decoder.decode(b"", final=True))

    def _seen(self, text: str) -> str:
        if not self._undecoded and _UNDECODED.search(text):
            self._undecoded = True
        return text


def _mark_undecoded(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with each undecodable byte replaced by U+FFFD and the first one of each column listed."""
    found: dict[str, str] = {}
    for column, value in record.items():
        values = value if isinstance(value, list) else [value]
        for text in values:
            match = _UNDECODED.search(text) if isinstance(text, str) else None
            if match:
                found.setdefault(column, _byte(match.group()))
    if not found:
        return record
    clean = {
        column: [_UNDECODED.sub("\ufffd", v) for v in value]
        if isinstance(value, list)
        else _UNDECODED.sub("\ufffd", value)
        if isinstance(value, str)
        else value
        for column, value in record.items()
    }
    return clean | {NOT_UTF8_KEY: found}


def _byte(escaped: str) -> str:
    """The original byte of a "surrogateescape" character, as ``0xE9``."""
    return f"0x{ord(escaped) - 0xDC00:02X}"


def read_catalog(stream: BinaryIO, uri: str) -> list[Product]:
    """Every product of the catalog, checked: one bad row or a repeated product_id fails the run."""
    products: list[Product] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(CsvStream(stream, uri, CATALOG_COLUMNS), start=1):
        try:
            product = parse_product(row)
        except ValueError as error:
            raise CatalogError(
                f"{uri} row {number}{_product_named(row)}: {error}: fix the catalog and re-run the day"
            ) from None
        if product.product_id in seen:
            raise CatalogError(
                f"{uri} lists product_id {product.product_id!r} twice (rows {seen[product.product_id]} "
                f"and {number}), which would load its orders twice: keep one row and re-run the day"
            )
        seen[product.product_id] = number
        products.append(product)
    return products


def _product_named(row: dict[str, Any]) -> str:
    """`` (product_id 'P-1')`` for a catalog error, when the row has a short, printable product_id."""
    product_id = (row.get("product_id") or "").strip()
    if not product_id or len(product_id) > 64 or escape_refused(product_id) != product_id:
        return ""
    return f" (product_id {product_id!r})"


def parse_s3_uri(uri: str) -> tuple[str, str]:
    parts = urlsplit(uri)
    if parts.scheme != "s3" or not parts.netloc:
        raise UnsupportedSourceError(f"{uri!r} is not an s3://bucket/key location")
    return parts.netloc, parts.path.lstrip("/")


class _HttpsOnlyRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        _require_https(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _require_https(url: str) -> None:
    scheme = urlsplit(url).scheme
    if scheme == "https":
        return
    if scheme == "http":
        raise UnsupportedSourceError(
            f"{url} uses plain http, which is refused (the file could be read or changed in transit): "
            "configure the https:// address of the source"
        )
    raise UnsupportedSourceError(
        f"{url!r} is not a supported source: use an s3://bucket/prefix/ location or an https:// URL"
    )


def _open_https(opener: Opener, url: str) -> BinaryIO | None:
    """The response for ``url``, or None when the server says there is no such file (404, 410)."""
    _require_https(url)
    try:
        return opener(url)
    except urllib.error.HTTPError as error:
        if error.code in {404, 410}:
            return None
        raise SourceUnavailableError(
            f"cannot read {url}: the server answered {error.code} {error.reason}: "
            "retry the run; if it persists, ask the partner to check the address"
        ) from None
    except urllib.error.URLError as error:
        raise SourceUnavailableError(
            f"cannot read {url} ({error.reason}): check the address and that the server is reachable "
            "(and has a valid certificate), then re-run the day"
        ) from None


def _reopen_https(opener: Opener, url: str) -> BinaryIO:
    response = _open_https(opener, url)
    if response is None:
        raise SourceUnavailableError(f"{url} disappeared while the run was reading it: re-run the day")
    return response


def _list_csv_keys(s3: Any, bucket: str, prefix: str, source: str) -> list[str]:
    keys: list[str] = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys.extend(
                item["Key"] for item in page.get("Contents", ()) if item["Key"].lower().endswith(".csv")
            )
    except ClientError as error:
        raise _unavailable(source, error) from error
    return sorted(keys)


def _s3_opener(s3: Any, bucket: str, key: str) -> Callable[[], BinaryIO]:
    def open_object() -> BinaryIO:
        try:
            return s3.get_object(Bucket=bucket, Key=key)["Body"]
        except ClientError as error:
            raise _unavailable(f"s3://{bucket}/{key}", error) from error

    return open_object


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _unavailable(source: str, error: ClientError) -> SourceUnavailableError:
    code = _error_code(error)
    hint = {
        "NoSuchBucket": "the bucket does not exist: check LANDING_BUCKET / ORDERS_SOURCE / CATALOG_SOURCE",
        "AccessDenied": "access denied: grant the extract role s3:ListBucket and s3:GetObject on it",
    }.get(code, "retry the run; if it persists, check the bucket and the extract role's permissions")
    return SourceUnavailableError(f"cannot read {source} ({code or error}): {hint}")


def _check_signature(block: bytes, uri: str) -> None:
    for magic, kind in _SIGNATURES:
        if block.startswith(magic):
            raise NotCsvError(f"{uri} is not a CSV file: it is {kind}. {_FIX[0].upper()}{_FIX[1:]}")
    if block.startswith(_UTF16_BOMS):
        raise EncodingError(
            f"{uri} is not UTF-8 text: it is UTF-16 (it starts with a UTF-16 byte order mark). "
            "Save it as UTF-8 (Excel: 'CSV UTF-8'), upload it again and re-run the day"
        )
