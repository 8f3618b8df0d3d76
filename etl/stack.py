"""The deployed stack the CLI operates on: names from Terraform's outputs, clients from boto3.

The same code serves the emulator and a real account: for ENV=local the AWS endpoint is the emulator's
(boto3 reads AWS_ENDPOINT_URL), for dev/prod it is AWS itself with the caller's credentials.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, fields
from functools import cached_property
from pathlib import Path
from typing import Any

import boto3

from emulator.settings import EmulatorSettings
from pipeline.config import Config

ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENTS = ("local", "dev", "prod")


class StackError(RuntimeError):
    """The stack cannot be reached or is not deployed; the message says what to run."""


@dataclass(frozen=True)
class StackOutputs:
    state_machine_arn: str
    orders_table_name: str
    runs_table_name: str
    landing_bucket_name: str
    staging_bucket_name: str
    artifacts_bucket_name: str
    retry_queue_url: str
    retry_dlq_url: str
    status_topic_arn: str
    daily_rule_name: str
    load_job_name: str
    lambda_function_names: dict[str, str]

    @classmethod
    def from_terraform(cls, outputs: dict[str, Any]) -> StackOutputs:
        missing = [f.name for f in fields(cls) if f.name not in outputs]
        if missing:
            raise StackError(f"Terraform outputs lack {', '.join(missing)}: deploy again (make deploy)")
        return cls(**{f.name: outputs[f.name]["value"] for f in fields(cls)})


def local_aws_environment(settings: EmulatorSettings) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": settings.endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": settings.region,
    }


class Stack:
    def __init__(self, env: str = "local"):
        if env not in ENVIRONMENTS:
            raise StackError(f"unknown environment {env!r}: use one of {', '.join(ENVIRONMENTS)}")
        self.env = env
        self.emulator = EmulatorSettings.from_env() if env == "local" else None
        if self.emulator is not None:
            for key, value in local_aws_environment(self.emulator).items():
                os.environ.setdefault(key, value)
        self._session = boto3.session.Session()

    @property
    def is_local(self) -> bool:
        return self.emulator is not None

    @cached_property
    def outputs(self) -> StackOutputs:
        terraform = shutil.which("terraform")
        if terraform is None:
            raise StackError("terraform not found: install Terraform >= 1.5")
        result = subprocess.run(
            [terraform, f"-chdir={ROOT / 'infra' / 'envs' / self._tf_dir}", "output", "-json"],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise StackError(
                f"cannot read the {self.env} stack's outputs ({result.stderr.strip()}): run make deploy ENV={self.env}"
            )
        outputs = json.loads(result.stdout or "{}")
        if not outputs:
            raise StackError(f"the {self.env} stack is not deployed: run make deploy ENV={self.env}")
        return StackOutputs.from_terraform(outputs)

    @property
    def _tf_dir(self) -> str:
        return "local" if self.is_local else "aws"

    def pipeline_config(self) -> Config:
        """The configuration the deployed functions run with, for CLI commands that do their work."""
        o = self.outputs
        return Config(
            runs_table=o.runs_table_name,
            orders_table=o.orders_table_name,
            landing_bucket=o.landing_bucket_name,
            staging_bucket=o.staging_bucket_name,
            retry_queue_url=o.retry_queue_url,
            retry_dlq_url=o.retry_dlq_url,
            status_topic_arn=o.status_topic_arn,
            environment=self.env,
        )

    def client(self, service: str) -> Any:
        return self._session.client(service)

    def table(self, name: str) -> Any:
        return self._session.resource("dynamodb").Table(name)
