"""The Terraform of the pipeline: formatted, valid for both environments, and applied to the emulator
(once per session, by the ``deployed_stack`` fixture) with the values it promises, converging to no changes."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.conftest import LAMBDA_ROLES, ROOT, DeployedStack, terraform_environment

INFRA = ROOT / "infra"
MODULES = sorted(p for p in (INFRA / "modules").iterdir() if p.is_dir())
EXPECTED_OUTPUTS = {
    "state_machine_arn",
    "orders_table_name",
    "runs_table_name",
    "landing_bucket_name",
    "staging_bucket_name",
    "artifacts_bucket_name",
    "retry_queue_url",
    "retry_dlq_url",
    "status_topic_arn",
    "daily_rule_name",
    "load_job_name",
    "lambda_function_names",
}
TIMEOUTS = {
    "track_begin": 30,
    "extract": 900,
    "track_result": 300,
    "notify": 60,
    "track_failure": 60,
    "refresh_dashboard": 60,
}


def terraform(*args: str, env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["terraform", *args], cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, check=False
    )


def blocks(text: str, kind: str) -> dict[str, str]:
    """The bodies of the top-level ``kind "name" { ... }`` blocks of a .tf file, by name."""
    found = {}
    for match in re.finditer(rf'^{kind} "([^"]+)" \{{\n(.*?)^\}}', text, re.S | re.M):
        found[match.group(1)] = match.group(2)
    return found


# --- static checks -------------------------------------------------------------------------------


def test_terraform_files_are_formatted(tmp_path):
    result = terraform("fmt", "-check", "-recursive", "-diff", "infra", env=terraform_environment(tmp_path))

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("env_name", ["aws", "local"])
def test_environment_validates_without_a_backend(env_name, tmp_path):
    env = terraform_environment(tmp_path / "data")
    workdir = INFRA / "envs" / env_name

    init = terraform(f"-chdir={workdir}", "init", "-backend=false", "-input=false", "-no-color", env=env)
    validate = terraform(f"-chdir={workdir}", "validate", "-no-color", env=env)

    assert init.returncode == 0, init.stdout + init.stderr
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert "The configuration is valid" in validate.stdout


@pytest.mark.parametrize("module", MODULES, ids=[m.name for m in MODULES])
def test_every_module_has_its_files_and_typed_described_variables_and_outputs(module):
    present = {p.name for p in module.iterdir()}
    variables = blocks((module / "variables.tf").read_text(), "variable")
    outputs = blocks((module / "outputs.tf").read_text(), "output")

    assert {"main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"} <= present
    assert variables, f"{module.name} declares no variables"
    assert [n for n, body in variables.items() if not re.search(r"^\s+type\s+=", body, re.M)] == []
    assert [n for n, body in variables.items() if not re.search(r"^\s+description\s+=", body, re.M)] == []
    assert [n for n, body in outputs.items() if not re.search(r"^\s+description\s+=", body, re.M)] == []


def test_both_environments_declare_the_same_outputs():
    local = set(blocks((INFRA / "envs" / "local" / "outputs.tf").read_text(), "output"))
    aws = set(blocks((INFRA / "envs" / "aws" / "outputs.tf").read_text(), "output"))

    assert local == aws == EXPECTED_OUTPUTS


def test_environments_hold_no_resources():
    for env_dir in (INFRA / "envs").iterdir():
        for tf in env_dir.glob("*.tf"):
            assert not re.search(r'^resource "', tf.read_text(), re.M), f"{tf} declares a resource"


# --- the stack on the emulator ---------------------------------------------------------------------

e2e = pytest.mark.e2e


@e2e
def test_outputs_name_every_part_of_the_stack(deployed_stack: DeployedStack):
    outputs = deployed_stack.outputs

    assert set(outputs) == EXPECTED_OUTPUTS
    assert outputs["orders_table_name"] == "nightly-etl-orders"
    assert outputs["runs_table_name"] == "nightly-etl-etl-runs"
    assert outputs["landing_bucket_name"] == "nightly-etl-landing-123456789012"
    assert outputs["load_job_name"] == "nightly-etl-load-orders"
    assert outputs["daily_rule_name"] == "nightly-etl-daily"
    assert (
        outputs["state_machine_arn"] == "arn:aws:states:us-east-1:123456789012:stateMachine:nightly-etl-etl"
    )
    assert outputs["lambda_function_names"] == {
        "track_begin": "nightly-etl-track-begin",
        "extract": "nightly-etl-extract",
        "track_result": "nightly-etl-track-result",
        "notify": "nightly-etl-notify",
        "track_failure": "nightly-etl-track-failure",
        "refresh_dashboard": "nightly-etl-refresh-dashboard",
    }


@e2e
@pytest.mark.parametrize(
    ("output", "key"), [("orders_table_name", "order_id"), ("runs_table_name", "run_date")]
)
def test_tables_are_on_demand_encrypted_and_backed_up(deployed_stack: DeployedStack, output, key):
    dynamodb = deployed_stack.client("dynamodb")
    name = deployed_stack.outputs[output]

    table = dynamodb.describe_table(TableName=name)["Table"]
    backups = dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]

    assert table["KeySchema"] == [{"AttributeName": key, "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": key, "AttributeType": "S"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSEDescription"]["Status"] == "ENABLED"
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


@e2e
@pytest.mark.parametrize("output", ["landing_bucket_name", "staging_bucket_name", "artifacts_bucket_name"])
def test_buckets_are_encrypted_versioned_private_and_tls_only(deployed_stack: DeployedStack, output):
    s3 = deployed_stack.client("s3")
    bucket = deployed_stack.outputs[output]

    encryption = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    public_access = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])

    assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert public_access == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    [statement] = policy["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert sorted(statement["Resource"]) == [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]


@e2e
def test_the_tls_only_policy_lets_the_pipeline_read_and_write(deployed_stack: DeployedStack):
    s3 = deployed_stack.client("s3")
    bucket = deployed_stack.outputs["staging_bucket_name"]

    s3.put_object(Bucket=bucket, Key="runs/policy-check/probe.txt", Body=b"ok")

    assert s3.get_object(Bucket=bucket, Key="runs/policy-check/probe.txt")["Body"].read() == b"ok"
    s3.delete_object(Bucket=bucket, Key="runs/policy-check/probe.txt")


@e2e
def test_staging_expires_old_runs_and_noncurrent_versions(deployed_stack: DeployedStack):
    s3 = deployed_stack.client("s3")

    rules = s3.get_bucket_lifecycle_configuration(Bucket=deployed_stack.outputs["staging_bucket_name"])[
        "Rules"
    ]
    by_id = {rule["ID"]: rule for rule in rules}

    assert by_id["expire-runs"]["Filter"] == {"Prefix": "runs/"}
    assert by_id["expire-runs"]["Expiration"] == {"Days": 30}
    # Tracking files outlive the queues' pointers to them (14 days on the retry queue, 14 more on the DLQ).
    assert by_id["expire-retry-payloads"]["Filter"] == {"Prefix": "tracking/retry/"}
    assert by_id["expire-retry-payloads"]["Expiration"] == {"Days": 35}
    assert by_id["expire-quarantine"]["Filter"] == {"Prefix": "tracking/quarantine/"}
    assert by_id["expire-quarantine"]["Expiration"] == {"Days": 400}
    assert by_id["expire-noncurrent-versions"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30


@e2e
def test_retry_queue_redrives_to_its_dead_letter_queue(deployed_stack: DeployedStack):
    sqs = deployed_stack.client("sqs")
    retry = sqs.get_queue_attributes(
        QueueUrl=deployed_stack.outputs["retry_queue_url"], AttributeNames=["All"]
    )
    dlq = sqs.get_queue_attributes(QueueUrl=deployed_stack.outputs["retry_dlq_url"], AttributeNames=["All"])
    retry, dlq = retry["Attributes"], dlq["Attributes"]

    assert json.loads(retry["RedrivePolicy"]) == {
        "deadLetterTargetArn": dlq["QueueArn"],
        "maxReceiveCount": 5,
    }
    assert json.loads(dlq["RedriveAllowPolicy"]) == {
        "redrivePermission": "byQueue",
        "sourceQueueArns": [retry["QueueArn"]],
    }
    assert retry["QueueArn"].endswith(":nightly-etl-retry.fifo")
    assert retry["FifoQueue"] == dlq["FifoQueue"] == "true"
    # The extract's whole retry budget: 6 attempts at its state's 915 s plus 17 s of retry waits.
    assert int(retry["VisibilityTimeout"]) == 6 * 915 + 17
    assert retry["MessageRetentionPeriod"] == dlq["MessageRetentionPeriod"] == str(14 * 24 * 3600)
    assert retry["SqsManagedSseEnabled"] == dlq["SqsManagedSseEnabled"] == "true"


@e2e
def test_status_topic_is_encrypted_and_mails_the_team(deployed_stack: DeployedStack):
    sns = deployed_stack.client("sns")
    topic_arn = deployed_stack.outputs["status_topic_arn"]

    attributes = sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]

    assert topic_arn.endswith(":nightly-etl-status")
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("email", "data-team@example.com")]

    # A customer managed key (alias/aws/sns would keep every alarm email out), rotated, whose policy lets
    # CloudWatch alarms and EventBridge rules of this account publish.
    kms = deployed_stack.client("kms")
    key = kms.describe_key(KeyId=attributes["KmsMasterKeyId"])["KeyMetadata"]
    assert key["KeyManager"] == "CUSTOMER" and key["KeyState"] == "Enabled"
    assert attributes["KmsMasterKeyId"] == key["Arn"]
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is True
    aliases = kms.list_aliases(KeyId=key["KeyId"])["Aliases"]
    assert [a["AliasName"] for a in aliases] == ["alias/nightly-etl-status"]
    policy = json.loads(kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    alarms, rules = statements["AlarmsPublish"], statements["RulesPublish"]
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert rules["Principal"] == {"Service": "events.amazonaws.com"}
    assert sorted(alarms["Action"]) == sorted(rules["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert alarms["Condition"] == {"StringEquals": {"aws:SourceAccount": key["AWSAccountId"]}}
    # EventBridge's KMS requests carry no aws:SourceAccount/aws:SourceArn: a condition would drop its events.
    assert "Condition" not in rules

    # The functions that publish may use the key; the others may not.
    iam = deployed_stack.client("iam")
    for role, may_publish in (("notify", True), ("extract", False)):
        name = deployed_stack.outputs["lambda_function_names"][role]
        role_name = deployed_stack.client("lambda").get_function(FunctionName=name)["Configuration"]["Role"]
        role_name = role_name.rsplit("/", 1)[-1]
        document = iam.get_role_policy(RoleName=role_name, PolicyName=f"{name}-access")["PolicyDocument"]
        document = json.loads(document) if isinstance(document, str) else document
        granted = [s for s in document["Statement"] if s.get("Sid") == "PublishEncrypted"]
        assert bool(granted) is may_publish, role
        if granted:
            assert granted[0]["Resource"] == key["Arn"]


@e2e
@pytest.mark.parametrize("role", LAMBDA_ROLES)
def test_each_function_runs_its_zip_with_the_shared_configuration(deployed_stack: DeployedStack, role):
    outputs = deployed_stack.outputs
    zip_bytes = (deployed_stack.artifacts_dir / "lambdas" / f"{role}.zip").read_bytes()

    config = deployed_stack.client("lambda").get_function_configuration(
        FunctionName=outputs["lambda_function_names"][role]
    )

    assert config["Runtime"] == "python3.11"
    assert config["Handler"] == "handler.lambda_handler"
    assert config["Timeout"] == TIMEOUTS[role]
    assert config["CodeSha256"] == base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode()
    assert config["Role"].endswith(f":role/{outputs['lambda_function_names'][role]}-lambda")
    assert config["Environment"]["Variables"] == {
        "RUNS_TABLE": "nightly-etl-etl-runs",
        "ORDERS_TABLE": "nightly-etl-orders",
        "LANDING_BUCKET": "nightly-etl-landing-123456789012",
        "STAGING_BUCKET": "nightly-etl-staging-123456789012",
        "RETRY_QUEUE_URL": outputs["retry_queue_url"],
        "RETRY_DLQ_URL": outputs["retry_dlq_url"],
        "STATUS_TOPIC_ARN": outputs["status_topic_arn"],
        "MAX_ATTEMPTS": "3",
        "ORDERS_SOURCE": "s3://nightly-etl-landing-123456789012/landing/orders/dt={run_date}/",
        "CATALOG_SOURCE": "s3://nightly-etl-landing-123456789012/reference/products.csv",
        "CHUNK_ROWS": "50000",
        "DRAIN_VISIBILITY_SECONDS": str(6 * 915 + 17),
        "POWERTOOLS_SERVICE_NAME": "nightly-etl",
        "LOG_LEVEL": "INFO",
        "ENVIRONMENT": "local",
        "REDASH_URL": "",
        "REDASH_API_KEY_PARAMETER": "",
    }


@e2e
def test_function_roles_grant_named_resources_only(deployed_stack: DeployedStack):
    iam = deployed_stack.client("iam")
    grants = {}
    for role in LAMBDA_ROLES:
        role_name = f"{deployed_stack.outputs['lambda_function_names'][role]}-lambda"
        [policy_name] = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
        document = iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]
        document = json.loads(document) if isinstance(document, str) else document
        grants[role] = {
            (action, resource)
            for statement in document["Statement"]
            for action in _as_list(statement["Action"])
            for resource in _as_list(statement["Resource"])
        }

    every_resource = {resource for granted in grants.values() for _, resource in granted}
    assert "*" not in every_resource
    assert ("sns:Publish", deployed_stack.outputs["status_topic_arn"]) in grants["notify"]
    assert not any(action.startswith(("sns:", "dynamodb:")) for action, _ in grants["extract"])
    assert not any(action.startswith("s3:Delete") for granted in grants.values() for action, _ in granted)
    assert not any(action.startswith("ssm:") for granted in grants.values() for action, _ in granted)
    retry_arn = "arn:aws:sqs:us-east-1:123456789012:nightly-etl-retry.fifo"
    assert ("sqs:ReceiveMessage", retry_arn) in grants["extract"]
    assert ("sqs:SendMessage", retry_arn) in grants["track_result"]
    dlq_arn = "arn:aws:sqs:us-east-1:123456789012:nightly-etl-retry-dlq.fifo"
    assert ("sqs:ReceiveMessage", dlq_arn) in grants["track_result"]
    assert ("sqs:DeleteMessage", dlq_arn) in grants["track_result"]
    assert not any(resource == dlq_arn for _, resource in grants["extract"])
    tracking = "arn:aws:s3:::nightly-etl-staging-123456789012/tracking/*"
    assert ("s3:PutObject", tracking) in grants["extract"] & grants["track_result"]
    runs_arn = "arn:aws:dynamodb:us-east-1:123456789012:table/nightly-etl-etl-runs"
    assert {grant for grant in grants["refresh_dashboard"] if not grant[0].startswith("logs:")} == {
        ("dynamodb:UpdateItem", runs_arn)
    }
    assert {action for action, _ in grants["track_begin"]} == {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "states:DescribeExecution",
    }
    executions = "arn:aws:states:us-east-1:123456789012:execution:nightly-etl-etl:*"
    assert ("states:DescribeExecution", executions) in grants["track_begin"]
    assert ("states:GetExecutionHistory", executions) in grants["track_failure"]
    assert not any(action.startswith("states:") for action, _ in grants["extract"] | grants["track_result"])


@e2e
def test_load_job_runs_the_uploaded_script_with_the_pipeline_library(deployed_stack: DeployedStack):
    outputs = deployed_stack.outputs
    bucket = outputs["artifacts_bucket_name"]

    job = deployed_stack.client("glue").get_job(JobName=outputs["load_job_name"])["Job"]
    script = deployed_stack.client("s3").get_object(Bucket=bucket, Key="glue/load_orders.py")["Body"].read()

    assert job["GlueVersion"] == "5.0"
    assert (job["WorkerType"], job["NumberOfWorkers"], job["Timeout"]) == ("G.1X", 2, 60)
    assert job["ExecutionProperty"] == {"MaxConcurrentRuns": 3}
    assert job["Command"]["ScriptLocation"] == f"s3://{bucket}/glue/load_orders.py"
    assert job["DefaultArguments"] == {
        "--job-language": "python",
        "--staging_bucket": outputs["staging_bucket_name"],
        "--orders_table": outputs["orders_table_name"],
        "--runs_table": outputs["runs_table_name"],
        "--extra-py-files": f"s3://{bucket}/glue/pipeline.zip",
    }
    assert script == (deployed_stack.artifacts_dir / "glue" / "load_orders.py").read_bytes()


@e2e
def test_state_machine_calls_the_deployed_functions_and_job(deployed_stack: DeployedStack):
    sfn = deployed_stack.client("stepfunctions")
    machine = sfn.describe_state_machine(stateMachineArn=deployed_stack.outputs["state_machine_arn"])
    definition = json.loads(machine["definition"])
    function_arns = {
        deployed_stack.client("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"]
        for name in deployed_stack.outputs["lambda_function_names"].values()
    }

    used = {
        state["Parameters"]["FunctionName"]
        for state in definition["States"].values()
        if state.get("Resource") == "arn:aws:states:::lambda:invoke"
    }
    assert used == function_arns
    assert definition["States"]["Load"]["Parameters"]["JobName"] == "nightly-etl-load-orders"
    assert "${" not in machine["definition"]
    assert machine["type"] == "STANDARD"


@e2e
def test_daily_rule_starts_the_state_machine_with_the_event_time(deployed_stack: DeployedStack):
    events = deployed_stack.client("events")
    rule_name = deployed_stack.outputs["daily_rule_name"]

    rule = events.describe_rule(Name=rule_name)
    [target] = events.list_targets_by_rule(Rule=rule_name)["Targets"]

    assert rule["ScheduleExpression"] == "cron(0 6 * * ? *)"
    assert rule["State"] == "ENABLED"
    assert target["Arn"] == deployed_stack.outputs["state_machine_arn"]
    assert target["RoleArn"].endswith(":role/nightly-etl-daily-events")
    assert target["InputTransformer"] == {
        "InputPathsMap": {"time": "$.time"},
        "InputTemplate": '{"run_date": <time>}',
    }


@e2e
def test_every_resource_is_tagged_by_the_provider_defaults(deployed_stack: DeployedStack):
    tags = deployed_stack.client("dynamodb").list_tags_of_resource(
        ResourceArn="arn:aws:dynamodb:us-east-1:123456789012:table/nightly-etl-orders"
    )["Tags"]

    assert {t["Key"]: t["Value"] for t in tags} == {
        "Project": "nightly-etl",
        "Environment": "local",
        "ManagedBy": "terraform",
    }


@e2e
def test_a_second_plan_finds_nothing_to_change(deployed_stack: DeployedStack):
    result = deployed_stack.plan("-detailed-exitcode")

    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "No changes." in result.stdout


@e2e
def test_a_changed_artifact_redeploys_that_function_only(deployed_stack: DeployedStack):
    notify_zip = deployed_stack.artifacts_dir / "lambdas" / "notify.zip"
    original = notify_zip.read_bytes()
    notify_zip.write_bytes(_with_extra_file(original))
    try:
        result = deployed_stack.plan()
    finally:
        notify_zip.write_bytes(original)

    changed = set(re.findall(r"# (\S+) will be updated in-place", result.stdout))
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert changed == {
        'module.nightly_etl.module.compute.aws_lambda_function.this["notify"]',
        'module.nightly_etl.module.compute.aws_s3_object.artifact["lambdas/notify.zip"]',
    }
    assert "Plan: 0 to add, 2 to change, 0 to destroy." in result.stdout


def _with_extra_file(zip_bytes: bytes) -> bytes:
    buffer = io.BytesIO(zip_bytes)
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr("CHANGED", "a new build")
    return buffer.getvalue()


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)
