"""What TLS costs on the emulator's port: the same DynamoDB writes over http:// and https:// (keep-alive, as
botocore does), against one private emulator started for the measurement.

Usage: python scripts/tls_cost.py [--items 20000] [--rounds 2]

Each round writes ``--items`` items with PutItem (one request per item) and with BatchWriteItem (25 items per
request) over each scheme, alternating the order from round to round so that a drift of the machine's load
does not favour one scheme. It prints items per second per scheme, the emulator's CPU time per item (which
other load on the machine does not inflate, unlike wall time), and the TLS handshake's own time.
"""

from __future__ import annotations

import argparse
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from emulator.client import EmulatorClient  # noqa: E402
from emulator.settings import EmulatorSettings  # noqa: E402


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start(state_dir: Path) -> tuple[subprocess.Popen, EmulatorSettings]:
    settings = EmulatorSettings(port=_free_port(), state_dir=state_dir)
    env = dict(os.environ, EMULATOR_PORT=str(settings.port), EMULATOR_STATE_DIR=str(state_dir))
    env.pop("AWS_ENDPOINT_URL", None)
    log = open(state_dir / "emulator.log", "wb")  # noqa: SIM115 - lives as long as the process
    process = subprocess.Popen(
        [sys.executable, "-m", "emulator", "start"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    control = EmulatorClient(settings.endpoint)
    deadline = time.monotonic() + 60
    while not control.is_up():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit((state_dir / "emulator.log").read_text())
        time.sleep(0.2)
    return process, settings


def _client(endpoint: str, verify: str | None):
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        verify=verify,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}),
    )


def _table(dynamodb) -> str:
    name = f"tls-cost-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def _item(n: int) -> dict:
    return {"pk": {"S": f"order-{n:07d}"}, "amount": {"N": str(n % 1000)}, "status": {"S": "loaded"}}


def put_items(dynamodb, table: str, items: int) -> None:
    for n in range(items):
        dynamodb.put_item(TableName=table, Item=_item(n))


def batch_write(dynamodb, table: str, items: int) -> None:
    for start in range(0, items, 25):
        requests = [{"PutRequest": {"Item": _item(n)}} for n in range(start, min(start + 25, items))]
        answer = dynamodb.batch_write_item(RequestItems={table: requests})
        if answer.get("UnprocessedItems"):
            raise SystemExit("BatchWriteItem left items unprocessed: clear the emulator's faults first")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux): unlike wall time, not inflated by other load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _measure(write: Callable, dynamodb, table: str, items: int, pid: int) -> tuple[float, float, float]:
    """Items per second, and the emulator's and this process's CPU milliseconds per item."""
    started, server_cpu, client_cpu = time.perf_counter(), cpu_seconds(pid), time.process_time()
    write(dynamodb, table, items)
    rate = items / (time.perf_counter() - started)
    server_ms = (cpu_seconds(pid) - server_cpu) / items * 1000
    return rate, server_ms, (time.process_time() - client_cpu) / items * 1000


def handshake_ms(settings: EmulatorSettings, times: int = 200) -> float:
    context = ssl.create_default_context(cafile=str(settings.ca_bundle))
    started = time.perf_counter()
    for _ in range(times):
        with (
            socket.create_connection(("127.0.0.1", settings.port)) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1"),
        ):
            pass
    return (time.perf_counter() - started) / times * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--first", choices=("http", "https"), default="http", help="The scheme of round 1.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tls-cost-") as state:
        process, settings = _start(Path(state))
        try:
            clients = {
                "http": _client(settings.endpoint, None),
                "https": _client(settings.internal_endpoint, str(settings.ca_bundle)),
            }
            workloads: dict[str, Callable] = {"PutItem": put_items, "BatchWriteItem": batch_write}
            rates: dict[tuple[str, str], list[float]] = {}
            cpu: dict[tuple[str, str], list[float]] = {}
            for round_number in range(args.rounds):
                order = ["http", "https"] if args.first == "http" else ["https", "http"]
                schemes = order if round_number % 2 == 0 else order[::-1]
                for workload, write in workloads.items():
                    for scheme in schemes:
                        dynamodb = clients[scheme]
                        table = _table(dynamodb)
                        rate, server_ms, client_ms = _measure(write, dynamodb, table, args.items, process.pid)
                        rates.setdefault((workload, scheme), []).append(rate)
                        cpu.setdefault((workload, scheme), []).append(server_ms)
                        print(
                            f"round {round_number + 1} {workload:14} {scheme:5} {rate:8.0f} items/s, CPU per "
                            f"item: emulator {server_ms:.3f} ms, client {client_ms:.3f} ms",
                            flush=True,
                        )
            print()
            for workload in workloads:
                http, https = (statistics.median(rates[(workload, s)]) for s in ("http", "https"))
                http_cpu, https_cpu = (statistics.median(cpu[(workload, s)]) for s in ("http", "https"))
                print(
                    f"{workload:14} http {http:6.0f} items/s, https {https:6.0f} items/s "
                    f"({(http - https) / http:+.1%} slower over TLS); emulator CPU per item "
                    f"{http_cpu:.3f} ms and {https_cpu:.3f} ms ({(https_cpu - http_cpu) / http_cpu:+.1%})"
                )
            print(f"TLS handshake (a new connection): {handshake_ms(settings):.2f} ms")
        finally:
            process.terminate()
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
