"""`emulator` command: run the embedded AWS in the foreground or as a background service."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from email import policy as email_policy
from email.parser import BytesParser
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from emulator.client import EmulatorClient, EmulatorUnavailable
from emulator.server import EmulatorError, EmulatorServer, check_port_free
from emulator.settings import EmulatorSettings

app = typer.Typer(help="The embedded AWS emulator.", no_args_is_help=True, add_completion=False)
console = Console(stderr=True)

T = TypeVar("T")

PortOption = Annotated[int | None, typer.Option(help="Port to listen on (default: EMULATOR_PORT or 4590).")]


def _settings(port: int | None) -> EmulatorSettings:
    return EmulatorSettings.from_env(port=port)


@app.command()
def start(
    port: PortOption = None, schedules: bool = typer.Option(False, help="Fire rules on their schedule.")
):
    """Serve in the foreground until interrupted."""
    settings = EmulatorSettings.from_env(port=port, run_schedules=schedules or None)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    started = time.perf_counter()
    server = EmulatorServer(settings)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        server._bind()
    except EmulatorError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    console.print(
        f"emulator listening on {settings.endpoint} (ready in {time.perf_counter() - started:.2f}s); "
        + _tls_line(settings)
    )
    try:
        assert server._server is not None
        server._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server._shutdown_extensions()


@app.command()
def up(
    port: PortOption = None,
    wait: float = typer.Option(30.0, help="Seconds to wait for it to answer."),
    schedules: bool = typer.Option(False, help="Fire rules on their schedule."),
):
    """Start in the background (reuses one already running on the port)."""
    settings = _settings(port)
    client = EmulatorClient(settings.endpoint)
    if client.is_up():
        console.print(f"emulator already running at {settings.endpoint}")
        return
    try:
        check_port_free(settings.host, settings.port)
    except EmulatorError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, EMULATOR_PORT=str(settings.port), EMULATOR_STATE_DIR=str(settings.state_dir))
    args = [sys.executable, "-m", "emulator", "start"] + (["--schedules"] if schedules else [])
    started = time.perf_counter()
    with open(settings.log_file, "ab") as log_file:
        process = subprocess.Popen(
            args, stdout=log_file, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    settings.pid_file.write_text(str(process.pid))
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = settings.log_file.read_text(errors="replace").strip().splitlines()[-5:]
            console.print("[red]error:[/red] the emulator exited at start:\n" + "\n".join(tail))
            raise typer.Exit(2)
        if client.is_up():
            console.print(
                f"emulator up at {settings.endpoint} (pid {process.pid}, "
                f"ready in {time.perf_counter() - started:.2f}s, log {settings.log_file})"
            )
            console.print(_tls_line(settings))
            return
        time.sleep(0.1)
    console.print(
        f"[red]error:[/red] no answer from {settings.endpoint} after {wait:.0f}s; see {settings.log_file}"
    )
    raise typer.Exit(2)


def _tls_line(settings: EmulatorSettings) -> str:
    return (
        f"the code it runs reaches it over TLS at {settings.internal_endpoint}, "
        f"trusting the CA {settings.ca_bundle}"
    )


@app.command()
def down(port: PortOption = None):
    """Stop the background emulator."""
    settings = _settings(port)
    if not settings.pid_file.exists():
        console.print("emulator not running (no pid file)")
        return
    pid = int(settings.pid_file.read_text().strip() or 0)
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        console.print("emulator was not running")
    else:
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.killpg(pid, signal.SIGKILL)
        console.print(f"emulator stopped (pid {pid})")
    settings.pid_file.unlink(missing_ok=True)


@app.command()
def status(port: PortOption = None):
    """Show whether it runs, where, and where its email outbox is."""
    settings = _settings(port)
    client = EmulatorClient(settings.endpoint)
    if not client.is_up():
        console.print(f"emulator not running at {settings.endpoint}")
        raise typer.Exit(1)
    info = client.status()
    print(json.dumps(info, indent=2))
    if "outbox" in info:
        console.print(f"email outbox: {info['outbox']}")


def _running_client(port: int | None) -> EmulatorClient:
    settings = _settings(port)
    client = EmulatorClient(settings.endpoint)
    if not client.is_up():
        console.print(
            f"[red]error:[/red] no emulator answers at {settings.endpoint}; start one with `emulator up`"
            + ("" if port else " (or set EMULATOR_PORT to the port it runs on)")
        )
        raise typer.Exit(1)
    return client


def _control(call: Callable[[], T]) -> T:
    """Run a control request, turning its failure into a message and a non-zero exit."""
    try:
        return call()
    except EmulatorUnavailable as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    except RuntimeError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


@app.command()
def fire(
    rule: Annotated[str, typer.Argument(help="Name of the scheduled EventBridge rule.")],
    at: Annotated[
        str | None, typer.Option(help="Fire as of this time, ISO 8601 (2026-11-22T06:00:00Z); default now.")
    ] = None,
    event_bus: Annotated[str, typer.Option(help="Event bus of the rule.")] = "default",
    force: Annotated[bool, typer.Option(help="Fire even if the rule is disabled.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole answer as JSON.")] = False,
    port: PortOption = None,
):
    """Fire a scheduled rule now (or as of --at): its targets get the Scheduled Event."""
    client = _running_client(port)
    result = _control(lambda: client.fire(rule, at=at, event_bus=event_bus, force=force))
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        print(f"fired {result['rule']} as of {result['time']}")
        for target in result["targets"]:
            print(f"  {target['id']}: {_delivery(target)}")
    if result["failed"]:
        raise typer.Exit(1)


def _delivery(target: dict[str, Any]) -> str:
    if "error" in target:
        return f"FAILED {target['error']}"
    for key, label in (("execution_arn", "started"), ("message_id", "message"), ("status_code", "invoked")):
        if key in target:
            return f"{label} {target[key]}"
    return "delivered"


@app.command()
def fault(
    dynamodb_unprocessed: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="Share (0..1) of BatchWriteItem items returned unprocessed."),
    ] = None,
    sticky: Annotated[
        bool | None,
        typer.Option(
            "--sticky/--no-sticky",
            help="The share picks items, not requests: the same items come back unprocessed on every attempt.",
        ),
    ] = None,
    dynamodb_unprocessed_key: Annotated[
        list[str] | None,
        typer.Option(
            help="KEY: BatchWriteItem always leaves the items with this partition-key value unprocessed. "
            "Repeatable."
        ),
    ] = None,
    fail_lambda: Annotated[
        list[str] | None,
        typer.Option(help="NAME=MESSAGE: the function raises instead of running. Repeatable."),
    ] = None,
    fail_glue: Annotated[
        list[str] | None, typer.Option(help="NAME=MESSAGE: runs of the job fail with it. Repeatable.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed the fault dice, for repeatable runs.")] = None,
    clear: Annotated[bool, typer.Option(help="Clear every fault first.")] = False,
    port: PortOption = None,
):
    """Set fault knobs (with no option: show them). --dynamodb-unprocessed-key, --fail-lambda and
    --fail-glue add to those already set."""
    client = _running_client(port)
    current = _control(client.clear_faults if clear else client.faults)
    changes: dict[str, Any] = {}
    if dynamodb_unprocessed is not None:
        changes["dynamodb_unprocessed"] = dynamodb_unprocessed
    if sticky is not None:
        changes["dynamodb_unprocessed_sticky"] = sticky
    if dynamodb_unprocessed_key:
        known = current["dynamodb_unprocessed_keys"]
        changes["dynamodb_unprocessed_keys"] = known + [k for k in dynamodb_unprocessed_key if k not in known]
    if fail_lambda:
        changes["fail_lambda"] = {**current["fail_lambda"], **_pairs(fail_lambda, "--fail-lambda")}
    if fail_glue:
        changes["fail_glue"] = {**current["fail_glue"], **_pairs(fail_glue, "--fail-glue")}
    if seed is not None:
        changes["seed"] = seed
    if changes:
        current = _control(lambda: client.set_faults(**changes))
    print(json.dumps(current, indent=2))


def _pairs(values: list[str], option: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        name, sep, message = value.partition("=")
        if not sep or not name.strip():
            raise typer.BadParameter(f"expected NAME=MESSAGE, got {value!r}", param_hint=option)
        pairs[name.strip()] = message
    return pairs


@app.command()
def iam(
    on: Annotated[
        bool, typer.Option("--on", help="Authorize role sessions' requests (the default).")
    ] = False,
    off: Annotated[bool, typer.Option("--off", help="Allow every request, as without IAM.")] = False,
    credentials: Annotated[
        str | None, typer.Option(help="ROLE_ARN: print credentials of this role as --service gets them.")
    ] = None,
    service: Annotated[
        str, typer.Option(help="The service principal assuming the role.")
    ] = "lambda.amazonaws.com",
    port: PortOption = None,
):
    """IAM enforcement: switch it (--on/--off), show it and its denials, or issue role credentials."""
    if on and off:
        raise typer.BadParameter("give --on or --off, not both")
    client = _running_client(port)
    if credentials:
        issued = _control(
            lambda: client.post("iam/credentials", {"role_arn": credentials, "service": service})
        )
        print(json.dumps(issued, indent=2))
        return
    if on or off:
        state = _control(lambda: client.post("iam", {"enforcement": on}))
    else:
        state = _control(lambda: client.get("iam"))
    print(json.dumps(state, indent=2))


@app.command()
def outbox(
    last: Annotated[bool, typer.Option(help="Print the newest message in full.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
    port: PortOption = None,
):
    """List the emails SNS sent to email subscriptions, oldest first."""
    client = _running_client(port)
    messages = _control(client.outbox)
    if as_json:
        print(json.dumps(messages, indent=2))
        return
    if not messages:
        console.print(f"the outbox is empty ({client.status()['outbox']})")
        return
    if last:
        print(_readable(Path(messages[-1]["path"])))
        return
    for message in messages:
        print(f"{message['date']}  {message['to']}  {message['subject']}\n    {message['path']}")


def _readable(path: Path) -> str:
    with path.open("rb") as handle:
        mail = BytesParser(policy=email_policy.default).parse(handle)
    headers = "\n".join(f"{name}: {mail[name]}" for name in ("From", "To", "Date", "Subject"))
    return f"{headers}\n\n{mail.get_content().rstrip()}"


if __name__ == "__main__":
    app()
