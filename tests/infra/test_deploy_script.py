"""scripts/deploy.py, the logic behind `make plan|apply|deploy`: the checks it makes before Terraform runs."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

from tests.conftest import ROOT, RunningEmulator, _free_port

DEPLOY = ROOT / "scripts" / "deploy.py"


def load_deploy_module():
    spec = importlib.util.spec_from_file_location("deploy_for_tests", DEPLOY)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through it
    spec.loader.exec_module(module)
    return module


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DEPLOY), *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )


def test_state_of_an_earlier_emulator_instance_is_discarded(tmp_path):
    deploy = load_deploy_module()
    state = tmp_path / "terraform.tfstate"
    state.write_text("{}")
    (tmp_path / "terraform.tfstate.backup").write_text("{}")
    (tmp_path / "instance_id").write_text("earlier\n")

    deploy.discard_stale_state(tmp_path, state, "current")

    assert not state.exists()
    assert not (tmp_path / "terraform.tfstate.backup").exists()
    assert (tmp_path / "instance_id").read_text() == "current\n"


def test_state_of_the_running_emulator_instance_is_kept(tmp_path):
    deploy = load_deploy_module()
    state = tmp_path / "terraform.tfstate"
    state.write_text('{"serial": 7}')
    (tmp_path / "instance_id").write_text("current\n")

    deploy.discard_stale_state(tmp_path, state, "current")

    assert state.read_text() == '{"serial": 7}'


def test_aws_environments_stop_at_once_without_credentials(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_CONFIG_FILE=str(tmp_path / "no-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_DEFAULT_REGION="us-east-1",
    )

    result = run("--env", "dev", "plan", env=env)

    assert result.returncode == 2
    assert "no usable AWS credentials for ENV=dev" in result.stderr
    assert "Initializing" not in result.stdout


def test_local_needs_a_running_emulator(tmp_path):
    port = _free_port()
    env = dict(os.environ, EMULATOR_PORT=str(port), EMULATOR_STATE_DIR=str(tmp_path))

    result = run("--env", "local", "apply", env=env)

    assert result.returncode == 2
    assert f"no emulator answers at http://127.0.0.1:{port}: start it with `make up`" in result.stderr


def test_local_terraform_reaches_every_service_at_the_running_emulator(emulator: RunningEmulator, monkeypatch):
    deploy = load_deploy_module()
    monkeypatch.setenv("EMULATOR_PORT", str(emulator.port))
    monkeypatch.setenv("EMULATOR_STATE_DIR", str(emulator.state_dir))
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://elsewhere.invalid")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://elsewhere.invalid")

    target = deploy.local_target(None)

    assert target.process_env["AWS_ENDPOINT_URL"] == emulator.endpoint
    assert not [name for name in target.process_env if name.startswith("AWS_ENDPOINT_URL_")]
    assert target.variables == ["region=us-east-1"]


def test_each_aws_environment_keeps_its_own_locked_state():
    deploy = load_deploy_module()
    backends = {
        env: deploy.parse_backend_file(ROOT / "infra" / "envs" / "aws" / "backends" / f"{env}.s3.tfbackend")
        for env in ("dev", "prod")
    }

    assert backends["dev"]["key"] == "nightly-etl/dev/terraform.tfstate"
    assert backends["prod"]["key"] == "nightly-etl/prod/terraform.tfstate"
    assert backends["dev"]["bucket"] != backends["prod"]["bucket"]
    assert {b["use_lockfile"] for b in backends.values()} == {"true"}
    assert {b["encrypt"] for b in backends.values()} == {"true"}


def _local_tree(root):
    """A repository-shaped tree with what a local apply reads, and a Target whose state lives in it."""
    deploy = load_deploy_module()
    deploy.ROOT = root
    for path, text in {
        "infra/envs/local/main.tf": 'module "x" {}\n',
        "infra/envs/local/.terraform.lock.hcl": "# lock\n",
        "infra/envs/local/.terraform/modules/modules.json": "{}",
        "statemachine/etl.asl.json": '{"StartAt": "A"}',
        "build/lambdas/notify.zip": "zip-1",
        "build/glue/load_orders.py": "print(1)\n",
    }.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    state = root / "state" / "terraform.tfstate"
    state.parent.mkdir()
    target = deploy.Target("local", root / "infra" / "envs" / "local", "local", {"path": str(state)}, ["a=1"])
    target.artifacts_dir = root / "build"
    return deploy, target, state


def test_a_local_apply_is_skipped_only_while_inputs_and_state_are_those_it_left(tmp_path):
    deploy, target, state = _local_tree(tmp_path)
    inputs = deploy.apply_inputs(target, [])
    state.write_text('{"serial": 1}')
    assert not deploy.unchanged_since_last_apply(target, inputs)  # never applied

    deploy.record_apply(target, inputs)

    assert deploy.unchanged_since_last_apply(target, inputs)
    assert not deploy.unchanged_since_last_apply(target, deploy.apply_inputs(target, ["-parallelism=2"]))
    state.write_text('{"serial": 2}')  # someone applied or changed the state since
    assert not deploy.unchanged_since_last_apply(target, inputs)


def test_every_input_of_an_apply_changes_its_digest(tmp_path):
    deploy, target, _ = _local_tree(tmp_path)
    digests = {deploy.apply_inputs(target, [])}
    for path in (
        "infra/envs/local/main.tf",
        "infra/envs/local/.terraform.lock.hcl",
        "statemachine/etl.asl.json",
        "build/lambdas/notify.zip",
        "build/glue/load_orders.py",
    ):
        (tmp_path / path).write_text((tmp_path / path).read_text() + " ")
        digests.add(deploy.apply_inputs(target, []))
    target.variables.append("b=2")
    digests.add(deploy.apply_inputs(target, []))
    assert len(digests) == 7

    # Terraform's own working files are not inputs.
    (tmp_path / "infra/envs/local/.terraform/modules/modules.json").write_text('{"changed": true}')
    assert deploy.apply_inputs(target, []) in digests


def test_a_local_plan_refreshes_unless_the_state_is_the_one_the_last_apply_left(tmp_path):
    deploy, target, state = _local_tree(tmp_path)
    state.write_text('{"serial": 1}')
    assert deploy.refresh_args(target, force=False) == []  # no apply recorded

    deploy.record_apply(target, deploy.apply_inputs(target, []))

    assert deploy.refresh_args(target, force=False) == ["-refresh=false"]
    assert deploy.refresh_args(target, force=True) == []
    state.write_text('{"serial": 2}')
    assert deploy.refresh_args(target, force=False) == []
