from datetime import UTC, datetime, timedelta

from etl.follow import step_events

T0 = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


def at(seconds):
    return T0 + timedelta(seconds=seconds)


def test_history_becomes_the_steps_a_person_follows():
    history = [
        {"type": "ExecutionStarted", "timestamp": at(0)},
        {"type": "TaskStateEntered", "timestamp": at(0.1), "stateEnteredEventDetails": {"name": "Extract"}},
        {
            "type": "TaskFailed",
            "timestamp": at(0.5),
            "taskFailedEventDetails": {
                "error": "HeaderError",
                "cause": '{"errorType": "HeaderError", "errorMessage": "wrong header: missing amount"}',
            },
        },
        {
            "type": "TaskStateExited",
            "timestamp": at(0.6),
            "stateExitedEventDetails": {
                "name": "Extract",
                "output": '{"extract": {"value": {"staged_records": 12, "chunks": 1}}}',
            },
        },
        {"type": "ExecutionSucceeded", "timestamp": at(1)},
    ]

    steps = step_events(history)

    assert [(s.kind, s.state, s.detail) for s in steps] == [
        ("entered", "Extract", ""),
        ("failed", "Extract", "HeaderError: wrong header: missing amount"),
        ("exited", "Extract", "staged 12 records in 1 chunk(s)"),
        ("execution", "", "SUCCEEDED"),
    ]


def test_a_failed_execution_carries_its_error():
    history = [
        {
            "type": "ExecutionFailed",
            "timestamp": at(2),
            "executionFailedEventDetails": {"error": "RunFailed", "cause": "see the run record"},
        }
    ]
    assert step_events(history)[0].detail == "FAILED RunFailed: see the run record"
