"""`emulator` command: run the embedded AWS in the foreground or as a background service."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from typing import Annotated

import typer
from rich.console import Console

from emulator.client import EmulatorClient
from emulator.server import EmulatorError, EmulatorServer, check_port_free
from emulator.settings import EmulatorSettings

app = typer.Typer(help="The embedded AWS emulator.", no_args_is_help=True, add_completion=False)
console = Console(stderr=True)

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
        f"emulator listening on {settings.endpoint} (ready in {time.perf_counter() - started:.2f}s)"
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
            return
        time.sleep(0.1)
    console.print(
        f"[red]error:[/red] no answer from {settings.endpoint} after {wait:.0f}s; see {settings.log_file}"
    )
    raise typer.Exit(2)


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
    print(json.dumps(client.status(), indent=2))


if __name__ == "__main__":
    app()
