resource "aws_cloudwatch_event_rule" "daily" {
  name                = "${var.name_prefix}-daily"
  description         = "Starts the nightly ETL for the day of the firing."
  schedule_expression = var.schedule_expression
  state               = var.enabled ? "ENABLED" : "DISABLED"
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "events" {
  name               = "${var.name_prefix}-daily-events"
  description        = "Lets the daily rule start the ETL state machine."
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

data "aws_iam_policy_document" "start_execution" {
  statement {
    sid       = "StartEtl"
    actions   = ["states:StartExecution"]
    resources = [var.state_machine_arn]
  }
}

resource "aws_iam_role_policy" "events" {
  name   = "${var.name_prefix}-daily-start-etl"
  role   = aws_iam_role.events.id
  policy = data.aws_iam_policy_document.start_execution.json
}

resource "aws_cloudwatch_event_target" "etl" {
  rule      = aws_cloudwatch_event_rule.daily.name
  target_id = "etl"
  arn       = var.state_machine_arn
  role_arn  = aws_iam_role.events.arn

  # The scheduled event's time (ISO 8601); the first task turns it into the run date.
  input_transformer {
    input_paths = {
      time = "$.time"
    }
    input_template = "{\"run_date\": <time>}"
  }

  depends_on = [aws_iam_role_policy.events]
}
