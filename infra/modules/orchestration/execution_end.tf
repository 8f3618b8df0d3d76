# An execution that ends FAILED, TIMED_OUT or ABORTED is reported to the failure tracker, which records the
# run FAILED (unless RecordFailure or TrackResult already recorded it), releases the date's lock, puts its
# drained retries back and sends the failure email. This covers what no Catch sees: a manual StopExecution,
# the execution's TimeoutSeconds, and the terminal errors States.ALL does not match.

locals {
  # The definition's own limit, for the tracker's words on a timeout ("did not finish within its N s").
  execution_timeout_seconds = jsondecode(file(var.definition_file)).TimeoutSeconds
}

resource "aws_cloudwatch_event_rule" "execution_end" {
  name        = "${var.name_prefix}-etl-execution-end"
  description = "Reports executions of the nightly ETL that ended FAILED, TIMED_OUT or ABORTED to the failure tracker."
  event_pattern = jsonencode({
    source        = ["aws.states"]
    "detail-type" = ["Step Functions Execution Status Change"]
    detail = {
      stateMachineArn = [aws_sfn_state_machine.etl.arn]
      status          = ["FAILED", "TIMED_OUT", "ABORTED"]
    }
  })
}

resource "aws_cloudwatch_event_target" "execution_end" {
  rule      = aws_cloudwatch_event_rule.execution_end.name
  target_id = "track-failure"
  arn       = var.lambda_function_arns["track_failure"]

  input_transformer {
    input_template = "{\"execution_end\": <aws.events.event.json>, \"timeout_seconds\": ${local.execution_timeout_seconds}}"
  }

  depends_on = [aws_lambda_permission.execution_end]
}

# EventBridge invokes a Lambda target through the function's resource-based policy, not a role.
resource "aws_lambda_permission" "execution_end" {
  statement_id  = "execution-end-from-eventbridge"
  action        = "lambda:InvokeFunction"
  function_name = var.lambda_function_arns["track_failure"]
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.execution_end.arn
}
