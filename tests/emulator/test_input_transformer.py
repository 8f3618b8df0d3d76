import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from emulator.scheduler.transform import (
    TransformError,
    json_path,
    render_template,
    scheduled_event,
    target_input,
)

RULE_ARN = "arn:aws:events:us-east-1:123456789012:rule/daily"
EC2_EVENT = {
    "version": "0",
    "id": "7bf73129-1428-4cd3-a780-95db273d1602",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "123456789012",
    "time": "2015-11-11T21:29:54Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
    "detail": {"instance-id": "i-0123456789", "state": "RUNNING", "count": 3},
}
PATHS = {"instance": "$.detail.instance-id", "state": "$.detail.state"}


def transform(template: str, paths: dict[str, str] | None = None, event: dict | None = None) -> str:
    target = {
        "Id": "t",
        "Arn": "arn:aws:sqs:us-east-1:123456789012:q",
        "InputTransformer": {"InputPathsMap": PATHS if paths is None else paths, "InputTemplate": template},
    }
    return target_input(target, event or EC2_EVENT, "daily", RULE_ARN)


def test_the_scheduled_event_has_the_shape_eventbridge_sends():
    moment = datetime(2026, 11, 22, 6, 0, 0, 987654, tzinfo=UTC)

    event = scheduled_event(RULE_ARN, "123456789012", "us-east-1", moment)

    assert list(event) == [
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    ]
    assert event["version"] == "0"
    assert uuid.UUID(event["id"]).version == 4
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["account"] == "123456789012"
    assert event["time"] == "2026-11-22T06:00:00Z"
    assert event["region"] == "us-east-1"
    assert event["resources"] == [RULE_ARN]
    assert event["detail"] == {}


def test_the_event_time_is_given_in_utc():
    moment = datetime(2026, 11, 22, 8, 0, tzinfo=timezone(timedelta(hours=2)))
    assert scheduled_event(RULE_ARN, "1", "us-east-1", moment)["time"] == "2026-11-22T06:00:00Z"


def test_the_daily_run_template_passes_the_event_time_as_run_date():
    event = scheduled_event(RULE_ARN, "123456789012", "us-east-1", datetime(2026, 11, 22, 6, tzinfo=UTC))

    text = transform('{"run_date": "<time>"}', {"time": "$.time"}, event)

    assert text == '{"run_date":"2026-11-22T06:00:00Z"}'


def test_an_unquoted_string_placeholder_gets_its_quotes_but_is_not_cut():
    event = scheduled_event(RULE_ARN, "123456789012", "us-east-1", datetime(2026, 11, 22, 6, tzinfo=UTC))

    text = transform('{"run_date": <time>}', {"time": "$.time"}, event)

    assert json.loads(text) == {"run_date": "2026-11-22T06:00:00Z"}


def test_simple_json_template():
    assert json.loads(transform('{"instance" : <instance>, "state": <state>}')) == {
        "instance": "i-0123456789",
        "state": "RUNNING",
    }


def test_json_template_with_variables_inside_strings_and_escaped_quotes():
    template = (
        '{"instance" : <instance>, "state": "<state>", '
        '"instanceStatus": "instance \\"<instance>\\" is in <state>"}'
    )
    assert json.loads(transform(template)) == {
        "instance": "i-0123456789",
        "state": "RUNNING",
        "instanceStatus": 'instance "i-0123456789" is in RUNNING',
    }


def test_json_template_mixing_variables_and_constants():
    template = '{"instance" : <instance>, "state": [ 9, <state>, true ], "Transformed" : "Yes"}'
    assert json.loads(transform(template)) == {
        "instance": "i-0123456789",
        "state": [9, "RUNNING", True],
        "Transformed": "Yes",
    }


def test_objects_arrays_and_numbers_keep_their_json_type():
    text = transform(
        '{"detail": <detail>, "resources": <resources>, "count": <count>, "label": "n=<count>"}',
        {"detail": "$.detail", "resources": "$.resources", "count": "$.detail.count"},
    )
    assert json.loads(text) == {
        "detail": EC2_EVENT["detail"],
        "resources": EC2_EVENT["resources"],
        "count": 3,
        "label": "n=3",
    }


def test_predefined_variables():
    text = transform(
        '{"ruleArn": <aws.events.rule-arn>, "ruleName": <aws.events.rule-name>, '
        '"ingested": "<aws.events.event.ingestion-time>", "original": <aws.events.event>, '
        '"whole": <aws.events.event.json>}',
        {},
    )
    answer = json.loads(text)
    assert answer["ruleArn"] == RULE_ARN
    assert answer["ruleName"] == "daily"
    assert answer["ingested"] == "2015-11-11T21:29:54Z"
    assert "detail" not in answer["original"]
    assert answer["original"]["detailType"] == "EC2 Instance State-change Notification"
    assert answer["original"]["id"] == EC2_EVENT["id"]
    assert answer["whole"] == EC2_EVENT


def test_a_string_template_keeps_its_quotes():
    assert transform('"instance <instance> is in <state>"') == '"instance i-0123456789 is in RUNNING"'


def test_a_string_template_with_a_predefined_variable():
    assert transform('"<aws.events.rule-name> triggered"', {}) == '"daily triggered"'


def test_a_plain_text_template_takes_values_as_they_are():
    assert transform("<instance> is in state <state>") == "i-0123456789 is in state RUNNING"


def test_a_plain_text_template_writes_objects_as_json():
    assert transform("resources: <r>", {"r": "$.resources"}) == (
        'resources: ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"]'
    )


def test_a_path_missing_from_the_event_is_null_as_a_value_and_empty_in_a_string():
    text = transform('{"a": <gone>, "b": "[<gone>]"}', {"gone": "$.detail.nothing"})
    assert json.loads(text) == {"a": None, "b": "[]"}


def test_a_missing_path_in_plain_text_leaves_nothing():
    assert transform("x=<gone>.", {"gone": "$.detail.nothing"}) == "x=."


def test_text_that_only_looks_like_a_placeholder_is_left_alone():
    assert transform("<b>bold</b> <state>") == "<b>bold</b> RUNNING"


def test_values_inside_strings_are_not_escaped_so_quotes_break_the_json():
    event = dict(EC2_EVENT, detail={"note": 'says "hi"'})
    with pytest.raises(TransformError, match="not valid JSON"):
        transform('{"note": "<note>"}', {"note": "$.detail.note"}, event)


def test_an_object_inside_a_string_breaks_the_json():
    with pytest.raises(TransformError, match="not valid JSON"):
        transform('{"r": "<r>"}', {"r": "$.resources"})


def test_input_paths_may_not_redefine_predefined_variables():
    with pytest.raises(TransformError, match="aws.events.rule-name"):
        transform('{"a": <aws.events.rule-name>}', {"aws.events.rule-name": "$.id"})


def test_constant_input_is_passed_verbatim():
    target = {"Id": "t", "Arn": "arn", "Input": '{"run_date": "2026-11-01"}'}
    assert target_input(target, EC2_EVENT, "daily", RULE_ARN) == '{"run_date": "2026-11-01"}'


def test_input_path_selects_part_of_the_event():
    detail = {"Id": "t", "Arn": "arn", "InputPath": "$.detail"}
    first_resource = {"Id": "t", "Arn": "arn", "InputPath": "$.resources[0]"}
    assert json.loads(target_input(detail, EC2_EVENT, "daily", RULE_ARN)) == EC2_EVENT["detail"]
    assert target_input(first_resource, EC2_EVENT, "daily", RULE_ARN) == (
        '"arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"'
    )


def test_without_input_the_target_gets_the_whole_event_minified():
    text = target_input({"Id": "t", "Arn": "arn"}, EC2_EVENT, "daily", RULE_ARN)
    assert text == json.dumps(EC2_EVENT, separators=(",", ":"))


def test_only_one_kind_of_input_may_be_set():
    target = {"Id": "t", "Arn": "arn", "Input": "{}", "InputPath": "$"}
    with pytest.raises(TransformError, match="Input and InputPath"):
        target_input(target, EC2_EVENT, "daily", RULE_ARN)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$", EC2_EVENT),
        ("$.detail.state", "RUNNING"),
        ("$['detail-type']", "EC2 Instance State-change Notification"),
        ('$.detail["instance-id"]', "i-0123456789"),
        ("$.resources[0]", "arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"),
        ("$.resources[*]", ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"]),
        ("$.detail.*", ["i-0123456789", "RUNNING", 3]),
    ],
)
def test_json_paths(path, expected):
    assert json_path(EC2_EVENT, path) == expected


def test_a_json_path_must_start_at_the_root():
    with pytest.raises(TransformError, match="must start with"):
        json_path(EC2_EVENT, "detail.state")


def test_render_template_fills_only_known_variables():
    assert render_template('{"a": <x>, "b": "<y>"}', {"x": 1, "y": "two"}) == '{"a":1,"b":"two"}'
