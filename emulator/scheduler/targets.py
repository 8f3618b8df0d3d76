"""Delivering an EventBridge rule's event to one target, with the authorization EventBridge itself needs.

- Step Functions: StartExecution signed with temporary credentials of the target's RoleArn, which the
  emulator's STS issues to ``events.amazonaws.com`` for the rule (aws:SourceArn = the rule, aws:SourceAccount),
  so the role's identity policy must allow ``states:StartExecution`` (IAM enforcement decides). A target with
  no RoleArn is refused, as PutTargets refuses it on AWS.
- Lambda: an asynchronous Invoke (InvocationType Event), allowed only when the function's resource-based
  policy lets ``events.amazonaws.com`` call ``lambda:InvokeFunction`` with the rule as aws:SourceArn (what
  Terraform's ``aws_lambda_permission`` adds); EventBridge uses no role for Lambda.
- SQS and SNS: sent with the operator's credentials (their resource policies are not evaluated). A topic
  encrypted with KMS takes the event only when the key's policy lets ``events.amazonaws.com`` call
  ``kms:GenerateDataKey*`` and ``kms:Decrypt``, evaluated without aws:SourceArn or aws:SourceAccount (which
  EventBridge's KMS requests do not carry): never with the AWS managed key ``alias/aws/sns``, whose policy
  grants no service (AWS then drops the event as a failed invocation).

Delivery goes through boto3 to the emulator's own endpoint, so a target is invoked exactly as any other
caller would invoke it. One attempt per event: a retried delivery would start a second execution.
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from emulator import roles
from emulator.settings import EmulatorSettings

EVENTS_SERVICE = "events.amazonaws.com"


class DeliveryError(Exception):
    """The target could not be given the event; the message says why, as EventBridge's metrics would."""


class UnsupportedTarget(DeliveryError):
    pass


class TargetDelivery:
    def __init__(self, settings: EmulatorSettings):
        self.settings = settings
        self._operator_clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def deliver(self, rule: Any, target: dict[str, Any], text: str) -> dict[str, Any]:
        """Hand ``text`` to ``target`` of ``rule`` (moto's Rule); the service's answer, or DeliveryError."""
        arn = target["Arn"]
        parts = arn.split(":")
        if len(parts) < 6:
            raise UnsupportedTarget(f"target {target.get('Id')}: {arn} is not an ARN")
        service, region, account, resource = parts[2], parts[3], parts[4], ":".join(parts[5:])
        try:
            if service == "states":
                return self._start_execution(rule, target, region, text)
            if service == "lambda":
                return self._invoke(rule, arn, region, account, text)
            if service == "sqs":
                return self._send_message(target, region, account, resource, text)
            if service == "sns":
                denial = topic_key_denial(arn, region, account, EVENTS_SERVICE)
                if denial:
                    raise DeliveryError(denial)
                answer = self._operator("sns", region).publish(TopicArn=arn, Message=text)
                return {"message_id": answer["MessageId"]}
        except (ClientError, BotoCoreError, roles.RoleNotUsable) as exc:
            raise DeliveryError(str(exc)) from exc
        raise UnsupportedTarget(
            f"target {target.get('Id')}: {service} targets are not delivered by the emulator "
            "(Step Functions, Lambda, SQS and SNS are)"
        )

    def send_to_dead_letter_queue(
        self, target: dict[str, Any], rule: Any, event_text: str, error: str
    ) -> str:
        """The event into the target's DeadLetterConfig queue, with EventBridge's error attributes."""
        queue_arn = target["DeadLetterConfig"]["Arn"]
        _, _, _, region, account, name = queue_arn.split(":", 5)
        sqs = self._operator("sqs", region)
        url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
        attributes = {
            "RULE_ARN": rule.arn,
            "TARGET_ARN": target["Arn"],
            "ERROR_CODE": "DeliveryFailed",
            "ERROR_MESSAGE": error[:256],
        }
        answer = sqs.send_message(
            QueueUrl=url,
            MessageBody=event_text,
            MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
        )
        return answer["MessageId"]

    # -- per service ------------------------------------------------------------------------------

    def _start_execution(self, rule: Any, target: dict[str, Any], region: str, text: str) -> dict[str, Any]:
        role_arn = target.get("RoleArn")
        if not role_arn:
            raise DeliveryError(
                f"target {target.get('Id')}: a Step Functions target needs a RoleArn for EventBridge to "
                "start executions with"
            )
        credentials = roles.service_credentials(
            role_arn, EVENTS_SERVICE, source_arn=rule.arn, source_account=rule.account_id, region=region
        )
        client = self._client("stepfunctions", region, **roles.client_kwargs(credentials))
        # EventBridge names each execution it starts with a fresh UUID.
        answer = client.start_execution(stateMachineArn=target["Arn"], name=str(uuid.uuid4()), input=text)
        return {"execution_arn": answer["executionArn"], "role": credentials.assumed_role_arn}

    def _invoke(self, rule: Any, function_arn: str, region: str, account: str, text: str) -> dict[str, Any]:
        denial = lambda_permission_denial(function_arn, region, account, rule.arn, rule.account_id)
        if denial:
            raise DeliveryError(denial)
        answer = self._operator("lambda", region).invoke(
            FunctionName=function_arn, InvocationType="Event", Payload=text.encode()
        )
        return {"status_code": answer["StatusCode"]}

    def _send_message(
        self, target: dict[str, Any], region: str, account: str, name: str, text: str
    ) -> dict[str, Any]:
        sqs = self._operator("sqs", region)
        url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
        message: dict[str, Any] = {"QueueUrl": url, "MessageBody": text}
        group = (target.get("SqsParameters") or {}).get("MessageGroupId")
        if group:
            message["MessageGroupId"] = group
        return {"message_id": sqs.send_message(**message)["MessageId"]}

    # -- clients ----------------------------------------------------------------------------------

    def _operator(self, service: str, region: str) -> Any:
        with self._lock:
            key = (service, region)
            if key not in self._operator_clients:
                self._operator_clients[key] = self._client(
                    service, region, aws_access_key_id="emulator", aws_secret_access_key="emulator"
                )
            return self._operator_clients[key]

    def _client(self, service: str, region: str, **signing: Any) -> Any:
        ca_bundle = self.settings.ca_bundle
        return boto3.session.Session().client(
            service,
            endpoint_url=self.settings.internal_endpoint,
            region_name=region,
            verify=str(ca_bundle) if ca_bundle else None,
            # One attempt: a retried delivery would start a second execution or invocation.
            config=Config(retries={"total_max_attempts": 1}, read_timeout=60),
            **signing,
        )


def lambda_permission_denial(
    function_arn: str, region: str, account: str, rule_arn: str, rule_account: str
) -> str | None:
    """Why the function's resource-based policy does not let this rule invoke it, or None when it does."""
    from moto.awslambda.utils import get_backend

    from emulator.iam.policy import Caller, Policy, context_of, evaluate

    backend = get_backend(account, region)
    try:
        function = backend.get_function(function_arn)
    except Exception:
        return f"function {function_arn} does not exist"
    statements = function.policy.statements
    if not statements:
        return (
            f"function {function_arn} has no resource-based policy: add a permission for "
            f"{EVENTS_SERVICE} with source ARN {rule_arn} (aws_lambda_permission)"
        )
    policy = Policy.parse(
        json.dumps({"Version": "2012-10-17", "Statement": statements}), name="lambda policy"
    )
    decision = evaluate(
        "lambda:InvokeFunction",
        function.function_arn,
        context_of({"aws:SourceArn": rule_arn, "aws:SourceAccount": rule_account}),
        identity_policies=[],
        resource_policy=policy,
        caller=Caller(grants=frozenset({("Service", EVENTS_SERVICE)})),
    )
    if decision.allowed:
        return None
    return (
        f"the resource-based policy of {function_arn} does not allow {EVENTS_SERVICE} to perform "
        f"lambda:InvokeFunction for rule {rule_arn} ({decision.reason('lambda:InvokeFunction')})"
    )


AWS_MANAGED_SNS_KEY = "alias/aws/sns"
# What publishing to an encrypted topic takes from its key: a data key to encrypt the message with.
# https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services
_PUBLISH_KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")


def topic_key_denial(
    topic_arn: str, region: str, account: str, service: str, source: dict[str, str] | None = None
) -> str | None:
    """Why ``service`` cannot publish to the topic because of its KMS key, or None when the topic is
    unencrypted or the key's policy lets the service use it. ``source`` holds the aws:SourceArn /
    aws:SourceAccount the service's KMS requests carry: none for EventBridge."""
    from moto.kms.models import kms_backends
    from moto.sns.models import sns_backends

    from emulator.iam.policy import Caller, Policy, context_of, evaluate

    try:
        topic = sns_backends[account][region].get_topic(topic_arn)
    except Exception:
        return None  # Publish itself answers NotFound
    key_id = getattr(topic, "kms_master_key_id", "") or ""
    if not key_id:
        return None
    if key_id in {AWS_MANAGED_SNS_KEY, f"arn:aws:kms:{region}:{account}:{AWS_MANAGED_SNS_KEY}"}:
        return (
            f"KMS.AccessDeniedException: topic {topic_arn} is encrypted with the AWS managed key "
            f"{AWS_MANAGED_SNS_KEY}, whose key policy does not let {service} use it: encrypt the topic with a "
            "customer managed key that grants it kms:GenerateDataKey* and kms:Decrypt"
        )
    backend = kms_backends[account][region]
    try:
        key = backend.describe_key(backend.any_id_to_key_id(key_id))
    except Exception:
        return f"KMS.NotFoundException: the key {key_id} of topic {topic_arn} does not exist"
    policy = Policy.parse(key.policy, name="key policy")
    context = context_of(dict(source or {}))
    for action in _PUBLISH_KEY_ACTIONS:
        decision = evaluate(
            action,
            key.arn,
            context,
            identity_policies=[],
            resource_policy=policy,
            caller=Caller(grants=frozenset({("Service", service)})),
        )
        if not decision.allowed:
            return (
                f"KMS.AccessDeniedException: the key policy of {key.arn} (topic {topic_arn}) does not let "
                f"{service} perform {action} ({decision.reason(action)})"
            )
    return None
