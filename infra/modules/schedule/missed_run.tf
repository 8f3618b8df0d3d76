# The missed-run check: at missed_run_check_hour_utc every day, the failure tracker reads the day's etl_runs
# item and emails the status topic when there is none (the schedule did not start the run, or its execution
# ended before it claimed the date) or when it is still RUNNING. Off with the schedule: no run is expected.

resource "aws_cloudwatch_event_rule" "missed_run" {
  name                = "${var.name_prefix}-missed-run-check"
  description         = "Emails when no run of the day is recorded by ${var.missed_run_check_hour_utc}:00 UTC."
  schedule_expression = "cron(0 ${var.missed_run_check_hour_utc} * * ? *)"
  state               = var.enabled ? "ENABLED" : "DISABLED"
}

resource "aws_cloudwatch_event_target" "missed_run" {
  rule      = aws_cloudwatch_event_rule.missed_run.name
  target_id = "track-failure"
  arn       = var.tracker_function_arn

  # The firing's time names the day checked (UTC).
  input_transformer {
    input_paths = {
      time = "$.time"
    }
    input_template = "{\"missed_run_check\": {\"time\": <time>, \"hour_utc\": ${var.missed_run_check_hour_utc}}}"
  }

  depends_on = [aws_lambda_permission.missed_run]
}

resource "aws_lambda_permission" "missed_run" {
  statement_id  = "missed-run-check-from-eventbridge"
  action        = "lambda:InvokeFunction"
  function_name = var.tracker_function_arn
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.missed_run.arn
}
