import datetime as dt
import gzip
import importlib.util
import io
import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
from moto import mock_aws

from pipeline import layout, retry
from pipeline.config import Config
from pipeline.contract import ORDER_COLUMNS, HeaderError
from pipeline.extract import DrainPolicy, SimulatedCrash, extract_run
from pipeline.generator import OrderFile, load_products, write_lines
from pipeline.sources import CatalogMissingError, EncodingError
from pipeline.staging import Manifest, Origin, StagedRecord, decode_lines, encode_lines

ROOT = Path(__file__).resolve().parents[2]
RUN = {"run_id": "2026-01-15-abc1234567", "run_date": "2026-01-15", "status": "RUNNING"}
DAY_PREFIX = "landing/orders/dt=2026-01-15/"
HEADER = ",".join(ORDER_COLUMNS) + "\n"
NO_WAIT = DrainPolicy(wait_seconds=0)


def order_line(n: int, customer: str = "Alice Martin") -> str:
    return f"ORD-{n},2026-01-15,{customer},P-1001,1,249.00,EUR\n"


class Recorder:
    """Passes calls through to a boto3 client and notes the ones whose order matters."""

    def __init__(self, client, name: str, log: list[tuple[str, str]], fail_on_key: str | None = None):
        self._client, self._name, self._log, self._fail_on_key = client, name, log, fail_on_key

    def __getattr__(self, attribute):
        method = getattr(self._client, attribute)

        def call(*args, **kwargs):
            if attribute == "put_object" and kwargs["Key"] == self._fail_on_key:
                self._fail_on_key = None
                raise ConnectionError(f"lost while writing {kwargs['Key']}")
            if attribute in {"put_object", "delete_message_batch", "receive_message"}:
                self._log.append((f"{self._name}.{attribute}", kwargs.get("Key", "")))
            return method(*args, **kwargs)

        return call


class Stack(SimpleNamespace):
    def put_orders(self, name: str, text: str | bytes) -> None:
        body = text.encode() if isinstance(text, str) else text
        self.s3.put_object(Bucket="landing", Key=DAY_PREFIX + name, Body=body)

    def queue(self, records: list[StagedRecord], run_id: str = "2026-01-14-prev000001") -> int:
        messages = list(retry.pack(records, run_id))
        for message in messages:
            self.sqs.send_message(
                QueueUrl=self.config.retry_queue_url,
                MessageBody=message.body,
                MessageGroupId=message.group_id,
                MessageDeduplicationId=message.deduplication_id,
            )
        return len(messages)

    def staged(self, result) -> list[StagedRecord]:
        manifest = self.manifest(result)
        return [
            StagedRecord.from_json(line)
            for chunk in manifest.chunks
            for line in decode_lines(self.s3.get_object(Bucket="staging", Key=chunk.key)["Body"].read())
        ]

    def manifest(self, result) -> Manifest:
        return Manifest.from_json(
            self.s3.get_object(Bucket="staging", Key=result.manifest_key)["Body"].read()
        )

    def keys(self, prefix: str = "") -> list[str]:
        answer = self.s3.list_objects_v2(Bucket="staging", Prefix=prefix)
        return [item["Key"] for item in answer.get("Contents", [])]

    def queue_counts(self) -> tuple[int, int]:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.config.retry_queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]), int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )


@pytest.fixture
def stack(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        s3, sqs = boto3.client("s3"), boto3.client("sqs")
        for bucket in ("landing", "staging"):
            s3.create_bucket(Bucket=bucket)
        s3.put_object(
            Bucket="landing", Key=layout.CATALOG_KEY, Body=(ROOT / "data" / "products.csv").read_bytes()
        )
        queue_url = sqs.create_queue(
            QueueName="etl-retry.fifo", Attributes={"FifoQueue": "true", "VisibilityTimeout": "60"}
        )["QueueUrl"]
        config = Config(
            runs_table="etl_runs",
            orders_table="orders",
            landing_bucket="landing",
            staging_bucket="staging",
            retry_queue_url=queue_url,
            retry_dlq_url=queue_url.replace("etl-retry", "etl-retry-dlq"),
            status_topic_arn="arn:aws:sns:us-east-1:123456789012:status",
            chunk_rows=3,
        )
        yield Stack(s3=s3, sqs=sqs, config=config)


def retried(n: int, attempt: int = 1) -> StagedRecord:
    return StagedRecord(
        {column: f"{column}-{n}" for column in ORDER_COLUMNS},
        Origin(
            "retry",
            "2026-01-14-prev000001",
            n,
            attempt=attempt,
            first_failed_run="2026-01-13-first00001",
            last_error="ProvisionedThroughputExceededException",
        ),
    )


# --- files ----------------------------------------------------------------------------------------


def test_seven_rows_with_chunk_rows_3_are_staged_in_chunks_of_3_3_and_1(stack):
    stack.put_orders("orders.csv", HEADER + "".join(order_line(n) for n in range(1, 8)))
    result = extract_run(stack.config, stack.s3, stack.sqs, RUN, drain=NO_WAIT)

    assert (result.extracted, result.retried_in, result.staged_records, result.chunks) == (7, 0, 7, 3)
    manifest = stack.manifest(result)
    assert [(c.key, c.records) for c in manifest.chunks] == [
        ("runs/2026-01-15-abc1234567/staging/part-00000.jsonl.gz", 3),
        ("runs/2026-01-15-abc1234567/staging/part-00001.jsonl.gz", 3),
        ("runs/2026-01-15-abc1234567/staging/part-00002.jsonl.gz", 1),
    ]
    staged = stack.staged(result)
    assert [r.raw["order_id"] for r in staged] == [f"ORD-{n}" for n in range(1, 8)]
    source = f"s3://landing/{DAY_PREFIX}orders.csv"
    assert [r.origin for r in staged[-2:]] == [Origin("file", source, 6, 0), Origin("file", source, 7, 0)]
    assert (
        manifest.chunks[0].bytes
        == stack.s3.head_object(Bucket="staging", Key=manifest.chunks[0].key)["ContentLength"]
    )


def test_the_manifest_describes_the_run_and_its_sources(stack):
    body = HEADER + order_line(1, "Zoë Ñúñez 👩\u200d💻") + order_line(2)
    stack.put_orders("orders.csv", body)
    result = extract_run(stack.config, stack.s3, stack.sqs, RUN, drain=NO_WAIT)

    manifest = stack.manifest(result)
    assert (manifest.run_id, manifest.run_date) == ("2026-01-15-abc1234567", "2026-01-15")
    assert (manifest.extracted, manifest.retried_in, manifest.staged_records) == (2, 0, 2)
    assert [(s.uri, s.rows, s.bytes) for s in manifest.sources] == [
        (f"s3://landing/{DAY_PREFIX}orders.csv", 2, len(body.encode()))
    ]
    assert manifest.catalog_key == "runs/2026-01-15-abc1234567/catalog.csv"
    assert stack.staged(result)[0].raw["customer"] == "Zoë Ñúñez 👩\u200d💻"
    assert result.as_dict() == {
        "run_id": "2026-01-15-abc1234567",
        "run_date": "2026-01-15",
        "manifest_key": "runs/2026-01-15-abc1234567/manifest.json",
        "orders_source": f"s3://landing/{DAY_PREFIX}",
        "extracted": 2,
        "retried_in": 0,
        "staged_records": 2,
        "chunks": 1,
        "files": 1,
        "catalog_key": "runs/2026-01-15-abc1234567/catalog.csv",
        "retry_messages": 0,
        "retry_messages_unreadable": 0,
        "retry_messages_not_deleted": 0,
        "retry_drain_reused": False,
    }
    json.dumps(result.as_dict())  # the state output must be plain JSON


class LandingInMemory:
    """The stack's S3 client, but the landing bucket's objects are put and read straight through moto's
    backend: thousands of files in seconds instead of a minute of botocore round trips."""

    def __init__(self, s3):
        from moto.s3.models import s3_backends

        self._s3, self._backend = s3, s3_backends["123456789012"]["global"]

    def put(self, key: str, body: bytes) -> None:
        self._backend.put_object("landing", key, body)

    def get_object(self, Bucket: str, Key: str, **kwargs):  # noqa: N803 - boto3's parameter names
        if Bucket != "landing" or kwargs:
            return self._s3.get_object(Bucket=Bucket, Key=Key, **kwargs)
        return {"Body": io.BytesIO(self._backend.get_object("landing", Key).value)}

    def __getattr__(self, attribute):
        return getattr(self._s3, attribute)


def extract_answer_size(stack, files: int) -> tuple[int, dict]:
    """Extract ``files`` one-row files of the day; the answer's size as Step Functions carries it."""
    s3 = LandingInMemory(stack.s3)
    for n in range(files):
        s3.put(
            f"{DAY_PREFIX}partner-export-{n:05d}-of-a-rather-long-file-name.csv",
            (HEADER + order_line(n)).encode(),
        )
    config = replace(stack.config, chunk_rows=10_000)
    answer = extract_run(config, s3, stack.sqs, RUN, drain=NO_WAIT).as_dict()
    return len(json.dumps(answer, separators=(",", ":")).encode()), answer


def test_the_extract_answer_is_the_same_size_for_3_files_and_3000(stack):
    """Per-file figures go to the manifest: the answer that passes through Step Functions (256 KiB at
    most) holds counts and keys only; with them it passed 256 KiB at about 2,500 files."""
    small, three = extract_answer_size(stack, 3)
    for key in stack.keys("runs/"):  # a fresh run's staging for the larger day
        stack.s3.delete_object(Bucket="staging", Key=key)
    large, thousands = extract_answer_size(stack, 3000)

    assert (three["files"], three["extracted"]) == (3, 3)
    assert (thousands["files"], thousands["extracted"]) == (3000, 3000)
    # The same bytes but for the digits of three counts (files, extracted, staged_records: 3 → 3000).
    assert (small, large) == (408, 408 + 3 * len("000"))
    assert large < 4 * 1024 < 256 * 1024
    assert "sources" not in thousands
    manifest = Manifest.from_json(
        stack.s3.get_object(Bucket="staging", Key=thousands["manifest_key"])["Body"].read()
    )
    assert len(manifest.sources) == 3000
    assert (
        manifest.sources[0].uri
        == f"s3://landing/{DAY_PREFIX}partner-export-00000-of-a-rather-long-file-name.csv"
    )


def test_a_row_with_a_megabyte_field_is_staged_for_the_contract_to_reject(stack):
    megabyte = 1024 * 1024
    stack.put_orders(
        "orders.csv",
        HEADER
        + order_line(1, "c" * megabyte)
        + order_line(2).rstrip("\n")
        + "," * 2
        + "x" * megabyte
        + "\n"
        + order_line(3),
    )
    result = extract_run(stack.config, stack.s3, stack.sqs, RUN, drain=NO_WAIT)

    assert result.extracted == 3
    staged = stack.staged(result)
    assert len(staged[0].raw["customer"]) == megabyte
    assert staged[1].raw["_extra"] == ["", "x" * megabyte]
    assert staged[2].raw["order_id"] == "ORD-3"


def test_the_files_of_a_day_are_staged_in_key_order_with_their_file_index(stack):
    stack.put_orders("part-b.csv", HEADER + order_line(3))
    stack.put_orders("part-a.csv", HEADER + order_line(1) + order_line(2))
    result = extract_run(stack.config, stack.s3, stack.sqs, RUN, drain=NO_WAIT)

    assert [(r.raw["order_id"], r.origin.file_index, r.origin.line) for r in stack.staged(result)] == [
        ("ORD-1", 0, 1),
        ("ORD-2", 0, 2),
        ("ORD-3", 1, 1),
    ]
    assert [(s.uri.rsplit("/", 1)[1], s.rows) for s in stack.manifest(result).sources] == [
        ("part-a.csv", 2),
        ("part-b.csv", 1),
    ]


def test_the_catalog_is_checked_and_staged_normalized_under_the_run(stack):
    catalog = (
        "\ufeffProduct_ID,name,category,unit_price,supplier\nP-1001, Espresso Machine ,Kitchen,249.00,Acme\n"
    )
    stack.s3.put_object(Bucket="landing", Key=layout.CATALOG_KEY, Body=catalog.encode())
    stack.put_orders("orders.csv", HEADER + order_line(1))
    extract_run(stack.config, stack.s3, stack.sqs, RUN, drain=NO_WAIT)

    staged = stack.s3.get_object(Bucket="staging", Key="runs/2026-01-15-abc1234567/catalog.csv")[
        "Body"
    ].read()
    assert staged.decode() == "product_id,name,category,unit_price\nP-1001,Espresso Machine,Kitchen,249.00\n"


def test_a_day_without_files_stages_nothing_and_needs_no_catalog(stack):
    stack.s3.delete_object(Bucket="landing", Key=layout.CATALOG_KEY)
    result = extract_run(stack.config, stack.s3, stack.sqs, RUN, drain=NO_WAIT)

    assert (result.staged_records, result.chunks, result.catalog_key, result.files) == (0, 0, None, 0)
    manifest = stack.manifest(result)
    assert (manifest.chunks, manifest.staged_records, manifest.sources) == ([], 0, [])


def test_orders_without_a_catalog_fail_the_run_before_the_manifest(stack):
    stack.s3.delete_object(Bucket="landing", Key=layout.CATALOG_KEY)
    stack.put_orders("orders.csv", HEADER + order_line(1))
    with pytest.raises(
        CatalogMissingError, match=r"no product catalog at s3://landing/reference/products\.csv"
    ):
        extract_run(stack.config, stack.s3, stack.sqs, RUN, drain=NO_WAIT)
    assert stack.keys("runs/2026-01-15-abc1234567/manifest") == []


def test_a_file_with_a_wrong_header_fails_the_run_and_keeps_the_drained_messages_in_flight(stack):
    stack.queue([retried(1)])
    stack.put_orders("orders.csv", "id,when,who\n1,2,3\n")
    with pytest.raises(HeaderError, match=r"orders\.csv has a wrong header: missing order_id, order_date"):
        extract_run(stack.config, stack.s3, stack.sqs, RUN, drain=NO_WAIT)
    assert stack.keys("runs/2026-01-15-abc1234567/manifest") == []
    assert stack.queue_counts() == (0, 1)


def test_a_latin1_row_is_staged_as_utf8_text_listing_its_byte_and_the_other_rows_with_it(stack):
    data = (HEADER + order_line(1)).encode() + order_line(2, "Zoë").encode("latin-1") + order_line(3).encode()
    stack.put_orders("orders.csv", data)
    result = extract_run(stack.config, stack.s3, stack.sqs, RUN, drain=NO_WAIT)
    staged = stack.staged(result)
    assert [record.raw.get("_not_utf8") for record in staged] == [None, {"customer": "0xEB"}, None]
    assert staged[1].raw["customer"] == "Zo\ufffd"


def test_a_file_whose_header_is_not_utf8_fails_the_run_with_an_encoding_error(stack):
    stack.put_orders("orders.csv", (HEADER.replace("customer", "clïent") + order_line(1)).encode("latin-1"))
    with pytest.raises(
        EncodingError, match=r"s3://landing/landing/orders/dt=2026-01-15/orders\.csv is not UTF-8"
    ):
        extract_run(stack.config, stack.s3, stack.sqs, RUN, drain=NO_WAIT)


def test_a_run_payload_without_a_run_id_is_refused():
    with pytest.raises(ValueError, match=r"the Extract payload's run lacks run_id"):
        extract_run(None, None, None, {"run_date": "2026-01-15"})  # type: ignore[arg-type]


def test_a_large_generated_file_is_staged_in_bounded_chunks(stack):
    products = load_products(ROOT / "data" / "products.csv")
    generated = OrderFile(products, rows=25_000, bad_rate=0.05, seed=5, day=dt.date(2026, 1, 15))
    write_lines(generated.lines(), f"s3://landing/{DAY_PREFIX}orders.csv", s3=stack.s3)
    config = replace(stack.config, chunk_rows=10_000)
    result = extract_run(config, stack.s3, stack.sqs, RUN, drain=NO_WAIT)

    assert (result.extracted, result.chunks) == (25_000, 3)
    assert [c.records for c in stack.manifest(result).chunks] == [10_000, 10_000, 5_000]
    assert stack.manifest(result).sources[0].rows == generated.expected.rows == 25_000


# --- the retry queue ------------------------------------------------------------------------------


def test_retried_records_come_back_with_their_origins_from_packed_and_pointer_messages(stack):
    packed = [retried(1), retried(2, attempt=2)]
    stack.queue(packed)
    pointed = [retried(3)]
    payload_key = layout.retry_payload_key("2026-01-14-prev000001", 0)
    stack.s3.put_object(Bucket="staging", Key=payload_key, Body=encode_lines(r.to_json() for r in pointed))
    pointer = retry.pointer("2026-01-14-prev000001", 0, "staging", payload_key, 1)
    stack.sqs.send_message(
        QueueUrl=stack.config.retry_queue_url,
        MessageBody=pointer.body,
        MessageGroupId=pointer.group_id,
        MessageDeduplicationId=pointer.deduplication_id,
    )
    stack.put_orders("orders.csv", HEADER + order_line(1))
    result = extract_run(stack.config, stack.s3, stack.sqs, RUN, drain=NO_WAIT)

    assert (result.extracted, result.retried_in, result.retry_messages) == (1, 3, 2)
    staged = stack.staged(result)
    assert staged[1:] == packed + pointed
    assert staged[2].origin.attempt == 2 and staged[3].origin.first_failed_run == "2026-01-13-first00001"
    assert stack.queue_counts() == (0, 0)


def test_drained_messages_are_deleted_only_after_the_manifest_is_written(stack):
    stack.queue([retried(1)])
    stack.put_orders("orders.csv", HEADER + "".join(order_line(n) for n in range(1, 5)))
    log: list[tuple[str, str]] = []
    extract_run(
        stack.config, Recorder(stack.s3, "s3", log), Recorder(stack.sqs, "sqs", log), RUN, drain=NO_WAIT
    )

    run = "runs/2026-01-15-abc1234567/"
    assert log == [
        ("sqs.receive_message", ""),
        ("s3.put_object", f"{run}drained/batch-00000.jsonl.gz"),
        ("sqs.receive_message", ""),
        ("s3.put_object", f"{run}drained/complete.json"),
        ("s3.put_object", f"{run}catalog.csv"),
        ("s3.put_object", f"{run}staging/part-00000.jsonl.gz"),
        ("s3.put_object", f"{run}staging/part-00001.jsonl.gz"),
        ("s3.put_object", f"{run}manifest.json"),
        ("sqs.delete_message_batch", ""),
    ]


def test_a_rerun_after_a_crash_reuses_the_drained_batches_and_stages_each_record_once(stack):
    stack.queue([retried(n) for n in range(1, 5)])
    stack.put_orders("orders.csv", HEADER + "".join(order_line(n) for n in range(1, 4)))
    crashing = replace(stack.config, extract_crash_after_chunks=1)
    with pytest.raises(SimulatedCrash):
        extract_run(crashing, stack.s3, stack.sqs, RUN, drain=NO_WAIT)
    assert stack.queue_counts() == (0, 1)  # received, kept in flight, not deleted
    assert stack.keys("runs/2026-01-15-abc1234567/manifest") == []

    # A message arriving between the attempts belongs to the next run, not to this one's re-run.
    stack.queue([retried(9)], run_id="2026-01-15-other00001")
    result = extract_run(crashing, stack.s3, stack.sqs, RUN, drain=NO_WAIT)

    assert result.retry_drain_reused is True
    assert (result.extracted, result.retried_in, result.chunks) == (3, 4, 3)
    ids = [r.raw["order_id"] for r in stack.staged(result)]
    assert ids == ["ORD-1", "ORD-2", "ORD-3"] + [f"order_id-{n}" for n in range(1, 5)]
    assert stack.queue_counts() == (1, 0)  # the drained message deleted; the new one waits


def test_a_crash_in_the_middle_of_the_drain_keeps_what_was_persisted(stack):
    stack.queue([retried(1)])
    stack.put_orders("orders.csv", HEADER + order_line(1))
    run = "runs/2026-01-15-abc1234567/"
    lossy = Recorder(stack.s3, "s3", [], fail_on_key=f"{run}drained/complete.json")
    with pytest.raises(ConnectionError):
        extract_run(stack.config, lossy, stack.sqs, RUN, drain=NO_WAIT)

    result = extract_run(stack.config, lossy, stack.sqs, RUN, drain=NO_WAIT)
    assert (result.retry_drain_reused, result.retry_messages, result.retried_in) == (True, 1, 1)
    assert [r.raw["order_id"] for r in stack.staged(result)] == ["ORD-1", "order_id-1"]
    assert stack.queue_counts() == (0, 0)


UNREADABLE_BODIES = {
    "not_json": "ORD-1,2026-01-14,Alice",
    "a_json_list": "[1]",
    "json_null": "null",
    "another_version": '{"v": 99, "records": []}',
    "a_record_that_is_a_number": '{"v": 1, "run_id": "r", "records": [5]}',
    "a_pointer_that_is_a_string": '{"v": 1, "run_id": "r", "s3": "tracking/retry/r/batch-00000.jsonl.gz"}',
    "a_pointer_to_a_missing_object": '{"v": 1, "run_id": "r", "s3": {"bucket": "staging", "key": "tracking/retry/gone"}}',
    "an_unknown_origin_kind": '{"v": 1, "run_id": "r", "records": [{"raw": {}, "origin": {"kind": "bogus", "source": "s", "line": 1}}]}',
    "an_unknown_origin_field": '{"v": 1, "run_id": "r", "records": [{"raw": {}, "origin": {"kind": "retry", "source": "s", "line": 1, "x": 2}}]}',
    "a_raw_row_of_numbers": '{"v": 1, "run_id": "r", "records": [{"raw": {"amount": 5}, "origin": {"kind": "retry", "source": "s", "line": 1}}]}',
}


@pytest.mark.parametrize("body", UNREADABLE_BODIES.values(), ids=UNREADABLE_BODIES.keys())
def test_an_unreadable_message_is_quarantined_with_its_raw_body_and_deleted(stack, body):
    stack.sqs.send_message(
        QueueUrl=stack.config.retry_queue_url,
        MessageBody=body,
        MessageGroupId="run-x",
        MessageDeduplicationId="x",
    )
    stack.queue([retried(1)])
    result = extract_run(stack.config, stack.s3, stack.sqs, RUN, drain=NO_WAIT)

    assert (result.retry_messages, result.retry_messages_unreadable, result.retried_in) == (1, 1, 1)
    assert [r.origin.line for r in stack.staged(result)] == [1]
    [key] = stack.keys(layout.quarantine_prefix(RUN["run_id"]))
    assert key.startswith(f"tracking/quarantine/{RUN['run_id']}/unreadable/retry-")
    kept = json.loads(stack.s3.get_object(Bucket="staging", Key=key)["Body"].read())
    assert (kept["body"], kept["source"], kept["run_id"]) == (body, "retry", RUN["run_id"])
    assert key.endswith(f"retry-{kept['message_id']}.json")
    assert kept["attributes"]["MessageGroupId"] == "run-x"
    assert kept["error"]
    assert stack.queue_counts() == (0, 0)


def test_a_pointer_payload_that_is_not_gzip_is_unreadable_and_names_its_object(stack):
    stack.s3.put_object(Bucket="staging", Key="tracking/retry/r/batch-00000.jsonl.gz", Body=b"plain text")
    pointer = retry.pointer("r", 0, "staging", "tracking/retry/r/batch-00000.jsonl.gz", 1)
    stack.sqs.send_message(
        QueueUrl=stack.config.retry_queue_url,
        MessageBody=pointer.body,
        MessageGroupId=pointer.group_id,
        MessageDeduplicationId=pointer.deduplication_id,
    )
    result = extract_run(stack.config, stack.s3, stack.sqs, RUN, drain=NO_WAIT)

    assert (result.retry_messages, result.retry_messages_unreadable, result.staged_records) == (0, 1, 0)
    [key] = stack.keys(layout.quarantine_prefix(RUN["run_id"]))
    error = json.loads(stack.s3.get_object(Bucket="staging", Key=key)["Body"].read())["error"]
    assert error.startswith(
        "the pointer's payload s3://staging/tracking/retry/r/batch-00000.jsonl.gz is not gzip"
    )


def test_a_rerun_after_a_crash_counts_the_unreadable_message_once_and_deletes_it(stack):
    stack.put_orders("orders.csv", HEADER + "".join(order_line(n) for n in range(1, 8)))
    stack.sqs.send_message(
        QueueUrl=stack.config.retry_queue_url,
        MessageBody="[1]",
        MessageGroupId="g",
        MessageDeduplicationId="d",
    )
    crashing = replace(stack.config, extract_crash_after_chunks=1)
    with pytest.raises(SimulatedCrash):
        extract_run(crashing, stack.s3, stack.sqs, RUN, drain=NO_WAIT)
    assert stack.queue_counts() == (0, 1)

    result = extract_run(crashing, stack.s3, stack.sqs, RUN, drain=NO_WAIT)
    assert (result.retry_messages_unreadable, result.retry_drain_reused, result.extracted) == (1, True, 7)
    assert len(stack.keys(layout.quarantine_prefix(RUN["run_id"]))) == 1
    assert stack.queue_counts() == (0, 0)


def test_the_drain_hides_messages_for_the_configured_visibility(stack):
    stack.queue([retried(1)])
    seen = []
    original = stack.sqs.receive_message

    def receive(**kwargs):
        seen.append(kwargs["VisibilityTimeout"])
        return original(**kwargs)

    stack.sqs.receive_message = receive
    extract_run(replace(stack.config, drain_visibility_seconds=5507), stack.s3, stack.sqs, RUN)
    assert seen[0] == 5507


def test_a_drain_visibility_beyond_sqs_maximum_is_refused():
    with pytest.raises(ValueError, match="within 0..43200"):
        DrainPolicy(visibility_seconds=43_201)


def test_a_fifo_group_gives_one_receive_per_run_and_the_rest_waits_for_the_next_run(stack):
    for n in range(12):
        stack.sqs.send_message(
            QueueUrl=stack.config.retry_queue_url,
            MessageBody=next(retry.pack([retried(n)], "2026-01-14-prev000001")).body,
            MessageGroupId="run-2026-01-14-prev000001",
            MessageDeduplicationId=f"m{n}",
        )
    first = extract_run(stack.config, stack.s3, stack.sqs, RUN, drain=NO_WAIT)
    second = extract_run(
        stack.config, stack.s3, stack.sqs, {**RUN, "run_id": "2026-01-16-def"}, drain=NO_WAIT
    )

    assert (first.retried_in, second.retried_in) == (10, 2)
    assert sorted(r.origin.line for r in stack.staged(first) + stack.staged(second)) == list(range(12))
    assert stack.queue_counts() == (0, 0)


def test_the_drain_stops_at_its_cap(stack):
    stack.queue([retried(1)], run_id="a")
    stack.queue([retried(2)], run_id="b")
    stack.queue([retried(3)], run_id="c")
    result = extract_run(
        stack.config, stack.s3, stack.sqs, RUN, drain=DrainPolicy(max_messages=2, wait_seconds=0)
    )
    assert (result.retry_messages, result.retried_in) == (2, 2)
    assert stack.queue_counts() == (1, 0)


# --- the crash hook -------------------------------------------------------------------------------


def test_the_crash_hook_fires_after_n_chunks_on_the_first_attempt_of_each_run_only(stack):
    stack.put_orders("orders.csv", HEADER + "".join(order_line(n) for n in range(1, 8)))
    config = replace(stack.config, extract_crash_after_chunks=2)
    with pytest.raises(
        SimulatedCrash, match=r"simulated crash after 2 chunk\(s\) of run 2026-01-15-abc1234567"
    ):
        extract_run(config, stack.s3, stack.sqs, RUN, drain=NO_WAIT)
    assert len(stack.keys("runs/2026-01-15-abc1234567/staging/")) == 2

    assert extract_run(config, stack.s3, stack.sqs, RUN, drain=NO_WAIT).chunks == 3
    with pytest.raises(SimulatedCrash):
        extract_run(config, stack.s3, stack.sqs, {**RUN, "run_id": "2026-01-15-forced0001"}, drain=NO_WAIT)


def test_the_crash_hook_does_not_fire_when_the_run_has_fewer_chunks(stack):
    stack.put_orders("orders.csv", HEADER + order_line(1))
    config = replace(stack.config, extract_crash_after_chunks=2)
    assert extract_run(config, stack.s3, stack.sqs, RUN, drain=NO_WAIT).chunks == 1


def test_the_crash_hook_is_configured_from_the_lambda_environment():
    env = {
        "RUNS_TABLE": "r",
        "ORDERS_TABLE": "o",
        "LANDING_BUCKET": "l",
        "STAGING_BUCKET": "s",
        "RETRY_QUEUE_URL": "q",
        "RETRY_DLQ_URL": "d",
        "STATUS_TOPIC_ARN": "t",
    }
    assert Config.from_env(env).extract_crash_after_chunks == 0
    assert Config.from_env({**env, "EXTRACT_CRASH_AFTER_CHUNKS": "2"}).extract_crash_after_chunks == 2


# --- the handler ----------------------------------------------------------------------------------


def test_the_handler_extracts_the_run_and_logs_with_the_run_id_as_correlation_id(stack, monkeypatch, capsys):
    for name, value in {
        "RUNS_TABLE": "etl_runs",
        "ORDERS_TABLE": "orders",
        "LANDING_BUCKET": "landing",
        "STAGING_BUCKET": "staging",
        "RETRY_QUEUE_URL": stack.config.retry_queue_url,
        "RETRY_DLQ_URL": stack.config.retry_dlq_url,
        "STATUS_TOPIC_ARN": stack.config.status_topic_arn,
        "CHUNK_ROWS": "2",
    }.items():
        monkeypatch.setenv(name, value)
    stack.put_orders("orders.csv", HEADER + order_line(1) + order_line(2) + order_line(3))
    stack.sqs.send_message(
        QueueUrl=stack.config.retry_queue_url,
        MessageBody="garbage",
        MessageGroupId="g",
        MessageDeduplicationId="d",
    )
    spec = importlib.util.spec_from_file_location(
        "extract_handler", ROOT / "lambdas" / "extract" / "handler.py"
    )
    handler = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(handler)
    context = SimpleNamespace(
        function_name="etl-extract",
        function_version="$LATEST",
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:etl-extract",
        memory_limit_in_mb=512,
        aws_request_id="req-1",
        log_group_name="/aws/lambda/etl-extract",
        log_stream_name="stream",
    )
    answer = handler.lambda_handler({"run": RUN}, context)

    assert (answer["staged_records"], answer["chunks"], answer["manifest_key"]) == (
        3,
        2,
        "runs/2026-01-15-abc1234567/manifest.json",
    )
    logs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    extracted = next(entry for entry in logs if entry["message"] == "extracted")
    assert extracted["correlation_id"] == "2026-01-15-abc1234567"
    assert extracted["staged_records"] == 3
    # The pipeline's own log lines share the format and the correlation id.
    unreadable = next(entry for entry in logs if entry["name"] == "pipeline.extract")
    assert (unreadable["level"], unreadable["correlation_id"]) == ("ERROR", "2026-01-15-abc1234567")


def test_staged_chunks_are_gzip_json_lines(stack):
    stack.put_orders("orders.csv", HEADER + order_line(1))
    result = extract_run(stack.config, stack.s3, stack.sqs, RUN, drain=NO_WAIT)
    body = stack.s3.get_object(Bucket="staging", Key=stack.manifest(result).chunks[0].key)["Body"].read()
    assert json.loads(gzip.decompress(body))["raw"]["order_id"] == "ORD-1"


def test_an_https_source_is_templated_with_the_run_date_and_staged_with_its_url(stack):
    opened = []

    def partner(url):
        opened.append(url)
        return io.BytesIO((HEADER + order_line(1)).encode())

    config = replace(stack.config, orders_source="https://partner.example/exports/{run_date}/orders.csv")
    result = extract_run(config, stack.s3, stack.sqs, RUN, open_url=partner, drain=NO_WAIT)

    url = "https://partner.example/exports/2026-01-15/orders.csv"
    assert opened == [url]
    assert [r.origin for r in stack.staged(result)] == [Origin("file", url, 1, 0)]
    assert result.orders_source == url
