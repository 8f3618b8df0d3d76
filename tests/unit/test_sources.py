import csv
import datetime as dt
import gzip
import http.server
import io
import ipaddress
import ssl
import threading
import tracemalloc
import zipfile
from itertools import islice
from pathlib import Path

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from moto import mock_aws

from pipeline import sources
from pipeline.contract import CATALOG_COLUMNS, ORDER_COLUMNS, HeaderError
from pipeline.generator import OrderFile, load_products, write_lines
from pipeline.sources import (
    CatalogError,
    CsvStream,
    EncodingError,
    NotCsvError,
    SourceUnavailableError,
    UnsupportedSourceError,
    https_opener,
    open_catalog,
    order_files,
    read_catalog,
)

ROOT = Path(__file__).resolve().parents[2]
URI = "s3://landing/landing/orders/dt=2026-01-15/orders.csv"
HEADER = ",".join(ORDER_COLUMNS) + "\n"
GOOD = "ORD-1,2026-01-15,Alice Martin,P-1001,1,249.00,EUR\n"


def rows_of(data: bytes, block_size: int = sources.BLOCK_SIZE, columns=ORDER_COLUMNS) -> list[dict]:
    return list(CsvStream(io.BytesIO(data), URI, columns, block_size))


# --- header -------------------------------------------------------------------------------------


def test_a_wrong_header_is_refused_naming_the_file_and_the_missing_columns():
    data = b"order_id,date,customer,product,quantity,amount,currency\n" + GOOD.encode()
    with pytest.raises(
        HeaderError, match=r"orders\.csv has a wrong header: missing order_date, product_id \("
    ):
        rows_of(data)


def test_an_empty_file_is_refused_for_having_no_header():
    with pytest.raises(HeaderError, match=r"orders\.csv is empty: expected a header row"):
        rows_of(b"")


def test_the_header_is_matched_loosely_and_columns_outside_the_contract_are_dropped():
    data = b" Order_ID ,ORDER_DATE,note,customer,product_id,quantity,amount,currency\n"
    data += b"ORD-1,2026-01-15,call first,Alice,P-1001,1,9.99,EUR\n"
    assert rows_of(data) == [
        {
            "order_id": "ORD-1",
            "order_date": "2026-01-15",
            "customer": "Alice",
            "product_id": "P-1001",
            "quantity": "1",
            "amount": "9.99",
            "currency": "EUR",
        }
    ]


def test_a_short_row_has_none_for_its_missing_values_and_a_long_row_keeps_the_surplus_under_extra():
    data = (HEADER + "ORD-1,2026-01-15,Alice,P-1001,1,9.99\nORD-2,2026-01-15,Bob,P-1,1,1,EUR,x,y\n").encode()
    short, long = rows_of(data)
    assert short["amount"] == "9.99" and short["currency"] is None and "_extra" not in short
    assert long["currency"] == "EUR" and long["_extra"] == ["x", "y"]


def test_quoted_newlines_unicode_line_separators_and_crlf_endings_are_kept_as_data():
    data = (
        HEADER
        + 'ORD-1,2026-01-15,"Line one\nline two",P-1,1,1,EUR\r\nORD-2,2026-01-15,A\u2028B,P-1,1,1,EUR\r\n'
    )
    first, second = rows_of(data.encode(), block_size=5)
    assert first["customer"] == "Line one\nline two" and first["currency"] == "EUR"
    assert second["customer"] == "A\u2028B" and second["currency"] == "EUR"


# --- encoding and binary content ------------------------------------------------------------------


def test_a_row_with_latin1_bytes_is_read_with_the_bytes_listed_and_the_other_rows_intact():
    data = (HEADER + GOOD).encode() + "ORD-2,2026-01-15,Zoë,P-1,1,1,EUR\n".encode("latin-1") + GOOD.encode()
    first, latin1, last = rows_of(data)
    assert first == last and "_not_utf8" not in first
    assert latin1["customer"] == "Zo\ufffd" and latin1["_not_utf8"] == {"customer": "0xEB"}
    assert latin1["currency"] == "EUR"


@pytest.mark.parametrize("block_size", [1, 2, 3, 7, 64])
def test_characters_split_across_blocks_are_decoded_and_an_invalid_byte_is_found_whatever_the_blocks(
    block_size,
):
    # "é" (2 bytes) and "👩" (4 bytes) split across blocks are valid; the lone 0xFF after them is not.
    text = (HEADER + "ORD-1,2026-01-15,é👩,P-1,1,1,EUR\n").encode()
    first, second = rows_of(text + b"ORD-2,2026-01-15,x\xff,P-1,1,1,EUR\n", block_size=block_size)
    assert first["customer"] == "é👩" and "_not_utf8" not in first
    assert second["_not_utf8"] == {"customer": "0xFF"}


def test_a_file_ending_inside_a_multibyte_character_has_the_byte_in_its_last_row():
    data = (HEADER + GOOD).encode() + b"ORD-2,2026-01-15,Ann,P-1,1,1,EUR" + "é".encode()[:1]
    _, last = rows_of(data)
    assert last["currency"] == "EUR\ufffd" and last["_not_utf8"] == {"currency": "0xC3"}


def test_a_header_row_that_is_not_utf8_is_an_encoding_error_naming_the_byte():
    data = "order_id,order_date,clïent\n".encode("latin-1") + GOOD.encode()
    with pytest.raises(
        EncodingError, match=r"orders\.csv is not UTF-8 text \(its header row has the byte 0xEF\)"
    ):
        rows_of(data)


def test_a_nul_in_a_data_row_is_data_for_the_contract_but_in_the_header_the_file_is_binary():
    data = (HEADER + GOOD).encode() + b"ORD-2\x00,2026-01-15,Ann,P-1,1,1,EUR\n"
    assert rows_of(data, block_size=16)[1]["order_id"] == "ORD-2\x00"
    with pytest.raises(NotCsvError, match=r"orders\.csv is not a CSV file: its header row has a NUL byte"):
        rows_of(HEADER.encode("utf-16-le") + GOOD.encode("utf-16-le"))


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (gzip.compress((HEADER + GOOD).encode()), "gzip-compressed data"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "a PDF document"),
        (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    ],
)
def test_compressed_and_document_files_are_named_as_what_they_are(content, kind):
    with pytest.raises(NotCsvError, match=rf"orders\.csv is not a CSV file: it is {kind}\. Fix the file"):
        rows_of(content)


def test_an_excel_workbook_is_recognised_as_a_zip_archive():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as workbook:
        workbook.writestr("xl/workbook.xml", "<workbook/>")
    with pytest.raises(NotCsvError, match=r"it is a zip archive \(an \.xlsx workbook is one\)"):
        rows_of(buffer.getvalue())


def test_utf16_text_is_an_encoding_error_asking_for_utf8():
    with pytest.raises(EncodingError, match=r"orders\.csv is not UTF-8 text: it is UTF-16"):
        rows_of((HEADER + GOOD).encode("utf-16"))


def test_a_utf8_byte_order_mark_is_accepted_and_not_part_of_the_first_column():
    data = b"\xef\xbb\xbf" + (HEADER + GOOD).encode()
    stream = CsvStream(io.BytesIO(data), URI, ORDER_COLUMNS, block_size=2)
    (row,) = list(stream)
    assert row["order_id"] == "ORD-1"
    assert (stream.rows, stream.bytes_read) == (1, len(data))


def test_a_line_longer_than_the_limit_is_not_csv(monkeypatch):
    monkeypatch.setattr(sources, "MAX_LINE_CHARS", 1000)
    with pytest.raises(NotCsvError, match=r"more than 1000 characters without a line break"):
        rows_of(HEADER.encode() + b"x" * 5000, block_size=256)


def test_a_field_beyond_the_csv_field_limit_is_reported_as_not_a_valid_csv():
    huge = "y" * (csv.field_size_limit() + 10)
    with pytest.raises(
        NotCsvError, match=r"orders\.csv is not a valid CSV file \(field larger than field limit"
    ):
        rows_of((HEADER + f'ORD-1,2026-01-15,"{huge}",P-1,1,1,EUR\n').encode())


# --- streaming ------------------------------------------------------------------------------------


class CountingStream(io.RawIOBase):
    """An endless order file that records how many blocks were asked for."""

    def __init__(self):
        self.reads = 0
        self._data = (HEADER + GOOD * 200_000).encode()

    def read(self, size=-1):
        self.reads += 1
        start = (self.reads - 1) * size
        return self._data[start : start + size]


def test_rows_are_read_lazily_one_block_at_a_time():
    stream = CountingStream()
    first_rows = list(islice(CsvStream(stream, URI, ORDER_COLUMNS, block_size=64 * 1024), 1000))
    assert len(first_rows) == 1000
    # 1000 rows of 51 bytes fit in the first block: nothing else of the 10 MB was read.
    assert stream.reads == 1


def test_a_large_file_is_read_with_bounded_memory(tmp_path):
    path = tmp_path / "big.csv"
    products = load_products(ROOT / "data" / "products.csv")
    generated = OrderFile(products, rows=100_000, bad_rate=0.1, seed=11, day=dt.date(2026, 1, 15))
    write_lines(generated.lines(), str(path))
    size = path.stat().st_size
    assert size > 6_000_000

    tracemalloc.start()
    try:
        with path.open("rb") as stream:
            reader = CsvStream(stream, str(path), ORDER_COLUMNS, block_size=64 * 1024)
            count = sum(1 for _ in reader)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (count, reader.rows, reader.bytes_read) == (100_000, 100_000, size)
    # A block, its text and its lines: some hundreds of KB however long the file (reading it whole: > 6 MB).
    assert peak < 1_000_000, f"peak {peak} bytes for a {size}-byte file"


# --- S3 sources -----------------------------------------------------------------------------------


@pytest.fixture
def s3(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket="landing")
        yield client


def test_every_csv_under_the_prefix_is_a_file_of_the_day_in_key_order(s3):
    prefix = "landing/orders/dt=2026-01-15/"
    for key in ["b.csv", "a.CSV", "notes.txt", "late/c.csv"]:
        s3.put_object(Bucket="landing", Key=prefix + key, Body=(HEADER + GOOD).encode())
    s3.put_object(Bucket="landing", Key="landing/orders/dt=2026-01-16/x.csv", Body=b"")
    files = order_files(f"s3://landing/{prefix}", s3)
    assert [(f.index, f.uri) for f in files] == [
        (0, f"s3://landing/{prefix}a.CSV"),
        (1, f"s3://landing/{prefix}b.csv"),
        (2, f"s3://landing/{prefix}late/c.csv"),
    ]
    with files[1].open() as stream:
        assert [r["order_id"] for r in CsvStream(stream, files[1].uri, ORDER_COLUMNS)] == ["ORD-1"]


def test_a_prefix_without_csv_files_is_no_file_not_an_error(s3):
    s3.put_object(Bucket="landing", Key="landing/orders/dt=2026-01-15/readme.txt", Body=b"hello")
    assert order_files("s3://landing/landing/orders/dt=2026-01-15/", s3) == []


def test_a_missing_bucket_is_unavailable_with_a_hint(s3):
    with pytest.raises(
        SourceUnavailableError, match=r"cannot read s3://nope/x/ \(NoSuchBucket\): the bucket does not exist"
    ):
        order_files("s3://nope/x/", s3)


def test_a_missing_catalog_object_opens_as_none(s3):
    assert open_catalog("s3://landing/reference/products.csv", s3) is None


def test_the_catalog_is_read_and_checked(s3):
    s3.put_object(
        Bucket="landing", Key="reference/products.csv", Body=(ROOT / "data" / "products.csv").read_bytes()
    )
    products = read_catalog(
        open_catalog("s3://landing/reference/products.csv", s3), "s3://landing/reference/products.csv"
    )
    assert len(products) == 12
    assert products[-1].name == "Notebook, Dotted A5"


def test_a_catalog_with_a_repeated_product_is_refused():
    data = b"product_id,name,category,unit_price\nP-1,A,X,1.00\nP-2,B,X,2.00\nP-1,C,X,3.00\n"
    with pytest.raises(CatalogError, match=r"lists product_id 'P-1' twice \(rows 1 and 3\)"):
        read_catalog(io.BytesIO(data), "s3://landing/reference/products.csv")


def test_a_catalog_row_without_a_price_is_refused_with_its_row_number():
    data = b"product_id,name,category,unit_price\nP-1,A,X,1.00\nP-2,B,X,\n"
    with pytest.raises(CatalogError, match=r"products\.csv row 2 \(product_id 'P-2'\): lacks unit_price"):
        read_catalog(io.BytesIO(data), "s3://landing/reference/products.csv")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"P-3,C,X,NaN", "row 3 (product_id 'P-3'): unit_price 'NaN' is not a price"),
        (b"P-3,C,X,-2.00", "row 3 (product_id 'P-3'): unit_price '-2.00' is not a price"),
        (b"P-3,C,X,inf", "row 3 (product_id 'P-3'): unit_price 'inf' is not a price"),
        (b"P-3,C,X,1e308", "row 3 (product_id 'P-3'): unit_price '1e308' is not a price"),
        (b"P-3," + b"n" * 201 + b",X,1", "row 3 (product_id 'P-3'): name has 201 characters, at most 200"),
        (b"P-3,C\xef\xbf\xbe,X,1", "row 3 (product_id 'P-3'): name holds U+FFFE at character 2"),
        (b"P-3,Caf\xe9,X,1", "row 3 (product_id 'P-3'): name byte 0xE9 is not UTF-8"),
        (b"P\x01,C,X,1", "row 3: product_id holds U+0001 at character 2"),
        (b"P" * 65 + b",C,X,1", "row 3: product_id has 65 characters, at most 64"),
    ],
)
def test_a_catalog_row_that_is_not_usable_is_refused_naming_the_row_and_the_field(line, message):
    data = b"product_id,name,category,unit_price\nP-1,A,X,1.00\nP-2,B,X,2\n" + line + b"\n"
    with pytest.raises(CatalogError) as raised:
        read_catalog(io.BytesIO(data), "s3://landing/reference/products.csv")
    assert str(raised.value).startswith(f"s3://landing/reference/products.csv {message}")
    assert str(raised.value).endswith(": fix the catalog and re-run the day")


def test_a_catalog_with_the_orders_header_is_a_header_error():
    with pytest.raises(HeaderError, match=r"missing name, category, unit_price"):
        list(
            CsvStream(
                io.BytesIO((HEADER + GOOD).encode()), "s3://landing/reference/products.csv", CATALOG_COLUMNS
            )
        )


# --- HTTPS sources --------------------------------------------------------------------------------


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class PartnerServer:
    def __init__(self, base: str, context: ssl.SSLContext, files: dict[str, bytes]):
        self.base = base
        self.context = context
        self.files = files


@pytest.fixture
def partner(tmp_path):
    """A partner's HTTPS server on 127.0.0.1 with a self-signed certificate the client is told to trust."""
    cert, key = _self_signed(tmp_path)
    files: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/moved":
                self.send_response(302)
                self.send_header("Location", f"http://127.0.0.1:{self.server.server_port}/orders.csv")
                self.end_headers()
            elif self.path == "/broken":
                self.send_error(500)
            elif self.path.lstrip("/") in files:
                body = files[self.path.lstrip("/")]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                self.send_error(404)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client_context = ssl.create_default_context(cafile=str(cert))
        yield PartnerServer(f"https://127.0.0.1:{server.server_port}", client_context, files)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_an_https_source_is_streamed_as_one_file(partner):
    partner.files["orders.csv"] = (HEADER + GOOD + GOOD.replace("ORD-1", "ORD-2")).encode()
    (file,) = order_files(f"{partner.base}/orders.csv", None, https_opener(partner.context))
    assert (file.index, file.uri) == (0, f"{partner.base}/orders.csv")
    with file.open() as stream:
        assert [r["order_id"] for r in CsvStream(stream, file.uri, ORDER_COLUMNS)] == ["ORD-1", "ORD-2"]
    # A second open (a repeat of the step in the same process) fetches the file again.
    with file.open() as stream:
        assert len(list(CsvStream(stream, file.uri, ORDER_COLUMNS))) == 2


def test_an_https_source_answering_404_is_no_file(partner):
    assert order_files(f"{partner.base}/2026-01-15.csv", None, https_opener(partner.context)) == []


def test_an_https_server_error_is_unavailable(partner):
    with pytest.raises(SourceUnavailableError, match=r"/broken: the server answered 500"):
        order_files(f"{partner.base}/broken", None, https_opener(partner.context))


def test_an_untrusted_certificate_is_refused(partner):
    partner.files["orders.csv"] = (HEADER + GOOD).encode()
    with pytest.raises(SourceUnavailableError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        order_files(f"{partner.base}/orders.csv", None, https_opener())


def test_plain_http_is_refused_before_any_connection():
    def never(url):
        raise AssertionError(f"{url} was opened")

    with pytest.raises(
        UnsupportedSourceError, match=r"http://partner.example/orders.csv uses plain http, which is refused"
    ):
        order_files("http://partner.example/orders.csv", None, never)


def test_a_redirect_from_https_to_http_is_refused(partner):
    partner.files["orders.csv"] = (HEADER + GOOD).encode()
    with pytest.raises(UnsupportedSourceError, match=r"uses plain http"):
        order_files(f"{partner.base}/moved", None, https_opener(partner.context))


def test_other_schemes_are_not_sources():
    with pytest.raises(UnsupportedSourceError, match=r"'ftp://x/y.csv' is not a supported source"):
        order_files("ftp://x/y.csv", None)
