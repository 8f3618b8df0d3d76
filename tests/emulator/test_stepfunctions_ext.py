import json


def test_validate_accepts_a_well_formed_definition(emulator):
    sfn = emulator.client("stepfunctions")
    definition = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}

    answer = sfn.validate_state_machine_definition(definition=json.dumps(definition))

    assert answer["result"] == "OK"
    assert answer["diagnostics"] == []


def test_validate_reports_a_broken_definition(emulator):
    sfn = emulator.client("stepfunctions")

    answer = sfn.validate_state_machine_definition(definition='{"StartAt": "A"')

    assert answer["result"] == "FAIL"
    assert answer["diagnostics"][0]["severity"] == "ERROR"


def test_list_versions_lists_published_versions_newest_first(emulator):
    sfn = emulator.client("stepfunctions")
    definition = json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}})
    arn = sfn.create_state_machine(
        name="versioned", definition=definition, roleArn="arn:aws:iam::123456789012:role/sfn", publish=True
    )["stateMachineArn"]
    sfn.update_state_machine(stateMachineArn=arn, definition=definition, publish=True)

    versions = sfn.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"]

    assert [v["stateMachineVersionArn"] for v in versions] == [f"{arn}:2", f"{arn}:1"]
