"""Plan and apply the Terraform of one environment (``make plan|apply|deploy ENV=...``).

- ``local``: the stack on the running emulator (``make up``). Terraform's state lives in the emulator's
  state directory; moto keeps everything in memory, so state written against an earlier emulator instance
  (the status route's ``instance_id`` changes at each start) describes nothing that exists and is discarded.
  An ``apply`` whose inputs (every Terraform file, the artifacts, the variables) and state are those of the
  last successful apply on the same instance has nothing to do and is skipped; with other inputs but that
  state, Terraform plans without refreshing every resource first (``--force`` refreshes and applies, e.g. to
  put back something changed by hand in the emulator).
- ``dev`` / ``prod``: a real AWS account, with the environment's S3 backend file and tfvars. Nothing runs
  without credentials.

Usage: deploy.py --env ENV {preflight,plan,apply,apply-plan,output} [--artifacts-dir DIR] [--force]
                 [-- TERRAFORM_ARGS...]
(run it through make: the Makefile points Terraform at its provider mirror and plugin cache)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ENVS = ROOT / "infra" / "envs"
ENVIRONMENTS = ("local", "dev", "prod")


class DeployError(Exception):
    """Something the person running the deploy must fix; the message says what."""


@dataclass
class Target:
    """Where Terraform runs for an environment, with which backend and variables."""

    env: str
    workdir: Path
    backend_type: str
    backend_config: dict[str, str]  # as given to `terraform init -backend-config`
    variables: list[str] = field(default_factory=list)
    process_env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    artifacts_dir: Path = ROOT / "build"

    @property
    def data_dir(self) -> Path:
        return Path(self.process_env.get("TF_DATA_DIR") or self.workdir / ".terraform")


def terraform_binary() -> str:
    binary = shutil.which("terraform")
    if binary is None:
        raise DeployError(
            "terraform not found: install Terraform >= 1.10 (`make setup` checks prerequisites)"
        )
    return binary


# --- local: the emulator ---------------------------------------------------------------------------


def local_target(artifacts_dir: Path | None) -> Target:
    from emulator.client import EmulatorClient, EmulatorUnavailable
    from emulator.settings import EmulatorSettings

    settings = EmulatorSettings.from_env()
    try:
        status = EmulatorClient(settings.endpoint, timeout=5).status()
    except (EmulatorUnavailable, RuntimeError):
        raise DeployError(
            f"no emulator answers at {settings.endpoint}: start it with `make up` "
            "(or set EMULATOR_PORT to the port of a running one)"
        ) from None
    tf_dir = Path(status["state_dir"]) / "terraform"
    tf_dir.mkdir(parents=True, exist_ok=True)
    state = tf_dir / "terraform.tfstate"
    discard_stale_state(tf_dir, state, status["instance_id"])
    variables = [f"region={status['region']}"]
    if artifacts_dir is not None:
        variables.append(f"artifacts_dir={artifacts_dir.resolve()}")
    # Every service's endpoint is the emulator, through the variable the AWS SDKs and the provider read: an
    # `endpoints` block in the provider configuration costs about two seconds of validation each time a
    # command starts the provider (four times an apply). Service-specific ones would point past the emulator.
    process_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL_")}
    process_env["AWS_ENDPOINT_URL"] = settings.endpoint
    target = Target("local", ENVS / "local", "local", {"path": str(state)}, variables, process_env)
    if artifacts_dir is not None:
        target.artifacts_dir = artifacts_dir.resolve()
    return target


def discard_stale_state(tf_dir: Path, state: Path, instance_id: str) -> None:
    """Forget state that belongs to another emulator instance: its resources died with that process."""
    marker = tf_dir / "instance_id"
    previous = marker.read_text().strip() if marker.exists() else None
    if previous != instance_id:
        if state.exists():
            print(f"deploy: discarding Terraform state of an earlier emulator instance ({state})")
        for stale in (state, state.with_name(state.name + ".backup")):
            stale.unlink(missing_ok=True)
        marker.write_text(instance_id + "\n")


def apply_inputs(target: Target, terraform_args: list[str]) -> str:
    """A digest of everything an apply depends on besides the state: the Terraform configuration (every
    module and environment, and the state machine definition it reads), the built artifacts, the variables
    and the extra arguments."""
    digest = hashlib.sha256()
    files = [
        path
        for folder in (ROOT / "infra", ROOT / "statemachine")
        for path in folder.rglob("*")
        if path.is_file() and ".terraform" not in path.parts
    ]
    for folder in ("lambdas", "glue"):
        files += [path for path in (target.artifacts_dir / folder).rglob("*") if path.is_file()]
    for path in sorted(files):
        digest.update(str(path).encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    for value in [target.env, *target.variables, "--", *terraform_args]:
        digest.update(value.encode() + b"\0")
    return digest.hexdigest()


def _state_digest(target: Target) -> str | None:
    state = Path(target.backend_config["path"])
    return hashlib.sha256(state.read_bytes()).hexdigest() if state.exists() else None


def _last_apply_file(target: Target) -> Path:
    return Path(target.backend_config["path"]).with_name("last-apply.json")


def _last_apply(target: Target) -> dict[str, Any]:
    try:
        return json.loads(_last_apply_file(target).read_text())
    except (OSError, ValueError):
        return {}


def _state_left_by(target: Target, last: dict[str, Any]) -> bool:
    state = _state_digest(target)
    return state is not None and last.get("state") == state


def state_left_by_last_apply(target: Target) -> bool:
    """Whether the state is exactly what the last successful local apply on this emulator left."""
    return _state_left_by(target, _last_apply(target))


def unchanged_since_last_apply(target: Target, inputs: str) -> bool:
    """Whether the last successful local apply had these inputs and left the state as it is now."""
    last = _last_apply(target)
    return last.get("inputs") == inputs and _state_left_by(target, last)


def refresh_args(target: Target, force: bool) -> list[str]:
    """Locally, a state the last apply left describes the emulator as it is (nothing else deploys there, and
    another emulator instance discards it): planning needs no refresh of every resource. ``--force`` refreshes."""
    if target.env == "local" and not force and state_left_by_last_apply(target):
        return ["-refresh=false"]
    return []


def record_apply(target: Target, inputs: str) -> None:
    _last_apply_file(target).write_text(json.dumps({"inputs": inputs, "state": _state_digest(target)}) + "\n")


# --- dev / prod: AWS -------------------------------------------------------------------------------


def aws_target(env: str, artifacts_dir: Path | None) -> Target:
    process_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    if len(process_env) != len(os.environ):
        print(f"deploy: ignoring AWS_ENDPOINT_URL* for ENV={env}: it deploys to AWS itself")
    identity = caller_identity(env)
    print(f"deploy: ENV={env} as {identity['Arn']} (account {identity['Account']})")
    backend_file = ENVS / "aws" / "backends" / f"{env}.s3.tfbackend"
    variables = [f"artifacts_dir={artifacts_dir.resolve()}"] if artifacts_dir is not None else []
    return Target(env, ENVS / "aws", "s3", parse_backend_file(backend_file), variables, process_env)


def caller_identity(env: str) -> dict[str, str]:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        sts = boto3.session.Session().client("sts", config=Config(ignore_configured_endpoint_urls=True))
        return sts.get_caller_identity()
    except (BotoCoreError, ClientError) as exc:
        raise DeployError(
            f"no usable AWS credentials for ENV={env} ({exc}). Configure them first, e.g. "
            "`export AWS_PROFILE=<profile>` or `aws sso login`, then run the target again."
        ) from None


# --- terraform -------------------------------------------------------------------------------------


def run_terraform(target: Target, *args: str) -> int:
    command = [terraform_binary(), f"-chdir={target.workdir}", *args]
    if not sys.stdout.isatty() and args and args[0] in {"init", "plan", "apply"}:
        command.insert(3, "-no-color")  # logs and CI consoles get plain text
    return subprocess.run(command, env=target.process_env, check=False).returncode


def ensure_initialised(target: Target) -> None:
    """``terraform init`` unless the working directory is already set up for this backend and configuration."""
    if backend_matches(target) and modules_current(target):
        return
    backend_args = [f"-backend-config={key}={value}" for key, value in target.backend_config.items()]
    if run_terraform(target, "init", "-input=false", "-reconfigure", *backend_args) != 0:
        raise DeployError(f"terraform init failed for ENV={target.env}")


def modules_current(target: Target) -> bool:
    """Whether Terraform's module manifest is newer than every configuration file: a module added or moved
    since the last init (a pulled change) needs another init, or plan and apply stop at "Module not installed"."""
    manifest = target.data_dir / "modules" / "modules.json"
    if not manifest.exists():
        return False
    installed = manifest.stat().st_mtime
    return all(
        tf.stat().st_mtime <= installed
        for tf in (ROOT / "infra").rglob("*.tf")
        if ".terraform" not in tf.parts
    )


def backend_matches(target: Target) -> bool:
    """Whether the working directory was initialised with this backend (and has its providers)."""
    recorded = target.data_dir / "terraform.tfstate"
    if not recorded.exists() or not (target.data_dir / "providers").is_dir():
        return False
    try:
        backend = json.loads(recorded.read_text()).get("backend") or {}
    except ValueError:
        return False
    config = backend.get("config") or {}
    return backend.get("type") == target.backend_type and all(
        str(config.get(key)).lower() == value.lower() for key, value in target.backend_config.items()
    )


def parse_backend_file(path: Path) -> dict[str, str]:
    """The settings of a ``*.tfbackend`` file (one ``key = value`` per line)."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "=" in line:
            key, value = (part.strip() for part in line.split("=", 1))
            values[key] = value.strip('"')
    return values


def var_args(target: Target) -> list[str]:
    args = [f"-var={assignment}" for assignment in target.variables]
    if target.env != "local":
        args.insert(0, f"-var-file={target.env}.tfvars")
    return args


def approval_args(target: Target) -> list[str]:
    """The local stack is applied without asking; AWS environments ask, unless AUTO_APPROVE=1 (CI, after
    its own approval step). Without a terminal and without AUTO_APPROVE, Terraform refuses to apply."""
    if target.env == "local" or target.process_env.get("AUTO_APPROVE") == "1":
        return ["-input=false", "-auto-approve"]
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", choices=ENVIRONMENTS, default="local")
    parser.add_argument("command", choices=("preflight", "plan", "apply", "apply-plan", "output"))
    parser.add_argument("--artifacts-dir", type=Path, help="build outputs to deploy (default: build/)")
    parser.add_argument(
        "--force", action="store_true", help="local: apply even when nothing changed since the last apply"
    )
    argv = sys.argv[1:] if argv is None else list(argv)
    terraform_args: list[str] = []
    if "--" in argv:  # everything after it goes to terraform untouched
        split = argv.index("--")
        argv, terraform_args = argv[:split], argv[split + 1 :]
    options = parser.parse_args(argv)

    try:
        terraform_binary()
        target = (
            local_target(options.artifacts_dir)
            if options.env == "local"
            else aws_target(options.env, options.artifacts_dir)
        )
        if options.command == "preflight":
            return 0
        ensure_initialised(target)
        if options.command == "output":
            return run_terraform(target, "output", "-json", *terraform_args)
        if options.command == "apply-plan":
            # A saved plan carries its variables; Terraform refuses -var-file next to it.
            return run_terraform(target, "apply", "-input=false", *terraform_args)
        if options.command == "plan":
            return run_terraform(target, "plan", "-input=false", *var_args(target), *terraform_args)
        if target.env != "local":
            return run_terraform(target, "apply", *approval_args(target), *var_args(target), *terraform_args)
        inputs = apply_inputs(target, terraform_args)
        if not options.force and unchanged_since_last_apply(target, inputs):
            print(
                "deploy: the local stack is up to date (same Terraform, artifacts and variables as its last "
                "apply on this emulator): nothing to apply. `make deploy FORCE=1` applies anyway."
            )
            return 0
        refresh = refresh_args(target, options.force)
        if refresh:
            print("deploy: the state is the one the last apply left on this emulator: not refreshing it")
        _last_apply_file(target).unlink(missing_ok=True)
        code = run_terraform(
            target, "apply", *approval_args(target), *refresh, *var_args(target), *terraform_args
        )
        if code == 0:
            record_apply(target, inputs)
        return code
    except DeployError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
