import pytest

from etl.simulate import FaultSpecError, parse_faults


def test_a_share_of_unprocessed_writes_on_one_day():
    plan = parse_faults(["unprocessed=0.3@1"], "load-job")
    assert {day: faults.knobs for day, faults in plan.items()} == {
        1: {"dynamodb_unprocessed": 0.3, "dynamodb_unprocessed_sticky": True}
    }


def test_load_failures_on_a_range_and_a_list_combine_with_other_faults():
    plan = parse_faults(["load@2-3", "unprocessed=0.5@3,5"], "load-job")
    assert {day: faults.knobs for day, faults in plan.items()} == {
        2: {"fail_glue": {"load-job": "simulated load failure"}},
        3: {
            "fail_glue": {"load-job": "simulated load failure"},
            "dynamodb_unprocessed": 0.5,
            "dynamodb_unprocessed_sticky": True,
        },
        5: {"dynamodb_unprocessed": 0.5, "dynamodb_unprocessed_sticky": True},
    }


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("unprocessed=0.3", "is not NAME"),
        ("unprocessed=lots@1", "needs a share"),
        ("unprocessed=1.5@1", "within 0..1"),
        ("meteor@1", "unknown fault 'meteor'"),
        ("load@0", "days start at 1"),
    ],
)
def test_bad_fault_specs_say_what_is_wrong(spec, message):
    with pytest.raises(FaultSpecError, match=message):
        parse_faults([spec], "load-job")
