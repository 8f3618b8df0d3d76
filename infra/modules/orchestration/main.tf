locals {
  logging_enabled = var.log_level != "OFF"
  # Invocations may name a version or alias of a function as well as the function itself.
  lambda_resources = flatten([for arn in values(var.lambda_function_arns) : [arn, "${arn}:*"]])
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "state_machine" {
  name               = "${var.name_prefix}-etl-states"
  description        = "Runs the nightly ETL state machine."
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

data "aws_iam_policy_document" "state_machine" {
  statement {
    sid       = "InvokeFunctions"
    actions   = ["lambda:InvokeFunction"]
    resources = local.lambda_resources
  }

  # What the glue:startJobRun.sync integration needs to start, follow and stop a run.
  statement {
    sid       = "RunLoadJob"
    actions   = ["glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun"]
    resources = [var.glue_job_arn]
  }

  # Log delivery and X-Ray have no resource-level permissions.
  dynamic "statement" {
    for_each = local.logging_enabled ? [1] : []

    content {
      sid = "DeliverLogs"
      actions = [
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
      ]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = var.tracing_enabled ? [1] : []

    content {
      sid       = "Trace"
      actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]
      resources = ["*"]
    }
  }
}

resource "aws_iam_role_policy" "state_machine" {
  name   = "${var.name_prefix}-etl-states-access"
  role   = aws_iam_role.state_machine.id
  policy = data.aws_iam_policy_document.state_machine.json
}

resource "aws_cloudwatch_log_group" "state_machine" {
  count = local.logging_enabled ? 1 : 0

  #checkov:skip=CKV_AWS_158:Encrypted with log_kms_key_arn when the environment sets one (its key policy must let CloudWatch Logs use it); CloudWatch Logs' own encryption otherwise.
  name              = "/aws/vendedlogs/states/${var.name_prefix}-etl"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
}

resource "aws_sfn_state_machine" "etl" {
  name     = "${var.name_prefix}-etl"
  type     = "STANDARD"
  role_arn = aws_iam_role.state_machine.arn
  definition = templatefile(var.definition_file, {
    track_begin_arn   = var.lambda_function_arns["track_begin"]
    extract_arn       = var.lambda_function_arns["extract"]
    load_job_name     = var.glue_job_name
    track_result_arn  = var.lambda_function_arns["track_result"]
    notify_arn        = var.lambda_function_arns["notify"]
    track_failure_arn = var.lambda_function_arns["track_failure"]
    # RefreshDashboard: after the status email, off the run's critical path.
    refresh_dashboard_arn = var.lambda_function_arns["refresh_dashboard"]
  })

  dynamic "logging_configuration" {
    for_each = local.logging_enabled ? [1] : []

    content {
      level                  = var.log_level
      include_execution_data = var.log_include_execution_data
      log_destination        = "${aws_cloudwatch_log_group.state_machine[0].arn}:*"
    }
  }

  tracing_configuration {
    enabled = var.tracing_enabled
  }

  # The role must be allowed to invoke the tasks before the first execution starts.
  depends_on = [aws_iam_role_policy.state_machine]
}
