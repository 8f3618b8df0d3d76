data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  default_timeouts = {
    track_begin       = 30
    extract           = 900
    track_result      = 300
    notify            = 60
    track_failure     = 60
    refresh_dashboard = 60
  }
  default_memory_sizes = {
    track_begin       = 256
    extract           = 1024
    track_result      = 256
    notify            = 256
    track_failure     = 256
    refresh_dashboard = 256
  }
  timeouts     = merge(local.default_timeouts, var.lambda_timeouts)
  memory_sizes = merge(local.default_memory_sizes, var.lambda_memory_sizes)

  function_names = { for role in keys(local.default_timeouts) : role => "${var.name_prefix}-${replace(role, "_", "-")}" }

  # One configuration for every function, read once by the shared code (pipeline config).
  environment = {
    RUNS_TABLE               = var.runs_table_name
    ORDERS_TABLE             = var.orders_table_name
    LANDING_BUCKET           = var.landing_bucket_name
    STAGING_BUCKET           = var.staging_bucket_name
    RETRY_QUEUE_URL          = var.retry_queue_url
    RETRY_DLQ_URL            = var.retry_dlq_url
    STATUS_TOPIC_ARN         = var.status_topic_arn
    MAX_ATTEMPTS             = tostring(var.max_attempts)
    ORDERS_SOURCE            = coalesce(var.orders_source, "s3://${var.landing_bucket_name}/landing/orders/dt={run_date}/")
    CATALOG_SOURCE           = coalesce(var.catalog_source, "s3://${var.landing_bucket_name}/reference/products.csv")
    CHUNK_ROWS               = tostring(var.chunk_rows)
    DRAIN_VISIBILITY_SECONDS = tostring(var.drain_visibility_seconds)
    POWERTOOLS_SERVICE_NAME  = var.service_name
    LOG_LEVEL                = var.log_level
    ENVIRONMENT              = var.environment
    REDASH_URL               = var.redash_url
    REDASH_API_KEY_PARAMETER = var.redash_api_key_parameter
  }

  staging_runs_objects = "${var.staging_bucket_arn}/runs/*"
  # Retry payloads and quarantine (tracking/retry/, tracking/quarantine/): kept longer than runs/.
  staging_tracking_objects = "${var.staging_bucket_arn}/tracking/*"
  # The state machine's executions. Built from its name: its ARN depends on these functions.
  execution_arns = "arn:${data.aws_partition.current.partition}:states:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:execution:${var.state_machine_name}:*"
  runs_table_item_actions = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
  ]

  # What each function may do, and nothing more: the AWS calls of its handler and of the pipeline code it
  # runs (README.md lists them). A new call in the code needs its grant here.
  function_statements = {
    track_begin = [
      { sid = "ClaimRun", actions = local.runs_table_item_actions, resources = [var.runs_table_arn] },
      # Whether the execution holding a date still runs: a stopped holder loses the date to the next run.
      { sid = "DescribeLockHolder", actions = ["states:DescribeExecution"], resources = [local.execution_arns] },
    ]
    extract = [
      { sid = "ListSources", actions = ["s3:ListBucket"], resources = [var.landing_bucket_arn] },
      { sid = "ReadSources", actions = ["s3:GetObject"], resources = ["${var.landing_bucket_arn}/*"] },
      { sid = "ListStaging", actions = ["s3:ListBucket"], resources = [var.staging_bucket_arn] },
      { sid = "WriteStaging", actions = ["s3:GetObject", "s3:PutObject"], resources = [local.staging_runs_objects] },
      # Reads retry payloads; keeps unreadable retry messages in quarantine.
      { sid = "TrackingFiles", actions = ["s3:GetObject", "s3:PutObject"], resources = [local.staging_tracking_objects] },
      {
        sid       = "DrainRetryQueue"
        actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"]
        resources = [var.retry_queue_arn]
      },
    ]
    track_result = [
      { sid = "ListStaging", actions = ["s3:ListBucket"], resources = [var.staging_bucket_arn] },
      { sid = "ReadWriteRunFiles", actions = ["s3:GetObject", "s3:PutObject"], resources = [local.staging_runs_objects] },
      { sid = "TrackingFiles", actions = ["s3:GetObject", "s3:PutObject"], resources = [local.staging_tracking_objects] },
      { sid = "QueueRetries", actions = ["sqs:SendMessage", "sqs:GetQueueAttributes"], resources = [var.retry_queue_arn] },
      # Announces quarantine; counts and replaces the messages SQS moved there after maxReceiveCount.
      {
        sid       = "AnnounceQuarantine"
        actions   = ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"]
        resources = [var.retry_dlq_arn]
      },
      { sid = "TrackRun", actions = concat(local.runs_table_item_actions, ["dynamodb:Scan"]), resources = [var.runs_table_arn] },
    ]
    notify = [
      { sid = "PublishStatus", actions = ["sns:Publish"], resources = [var.status_topic_arn] },
      # The run's item, and the conditional writes of its email marker and of notify_error.
      { sid = "ReadRunMarkEmail", actions = ["dynamodb:GetItem", "dynamodb:UpdateItem"], resources = [var.runs_table_arn] },
      # Without s3:ListBucket, S3 answers a missing report 403 AccessDenied instead of 404 NoSuchKey.
      { sid = "ListStaging", actions = ["s3:ListBucket"], resources = [var.staging_bucket_arn] },
      { sid = "ReadReport", actions = ["s3:GetObject"], resources = [local.staging_runs_objects] },
    ]
    refresh_dashboard = concat(
      [
        { sid = "RecordRefresh", actions = ["dynamodb:UpdateItem"], resources = [var.runs_table_arn] },
      ],
      var.redash_api_key_parameter == "" ? [] : [
        { sid = "ReadRedashApiKey", actions = ["ssm:GetParameter"], resources = [local.redash_parameter_arn] },
      ],
    )
    track_failure = [
      { sid = "FailRun", actions = local.runs_table_item_actions, resources = [var.runs_table_arn] },
      # A run that failed before its manifest was written has none: reading it must answer NoSuchKey.
      { sid = "ListStaging", actions = ["s3:ListBucket"], resources = [var.staging_bucket_arn] },
      { sid = "ReadWriteRunFiles", actions = ["s3:GetObject", "s3:PutObject"], resources = [local.staging_runs_objects] },
      { sid = "RequeueRetries", actions = ["sqs:SendMessage"], resources = [var.retry_queue_arn] },
      # Records too large for a message are requeued behind a pointer under tracking/retry/.
      { sid = "RetryPayloads", actions = ["s3:PutObject"], resources = ["${var.staging_bucket_arn}/tracking/retry/*"] },
      # An execution's end (EventBridge): the state it ended in, and the failure email.
      { sid = "ReadEndedExecution", actions = ["states:GetExecutionHistory"], resources = [local.execution_arns] },
      { sid = "PublishFailure", actions = ["sns:Publish"], resources = [var.status_topic_arn] },
    ]
  }

  redash_parameter_arn = "arn:${data.aws_partition.current.partition}:ssm:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:parameter/${trimprefix(var.redash_api_key_parameter, "/")}"

  lambda_keys      = { for role in keys(local.function_names) : role => "lambdas/${role}.zip" }
  glue_script_key  = "glue/load_orders.py"
  glue_library_key = "glue/pipeline.zip"
  artifacts = merge(
    { for role, key in local.lambda_keys : key => "${var.artifacts_dir}/${key}" },
    {
      (local.glue_script_key)  = "${var.artifacts_dir}/${local.glue_script_key}"
      (local.glue_library_key) = "${var.artifacts_dir}/${local.glue_library_key}"
    },
  )

  status_topic_kms_statements = var.status_topic_kms_key_arn == null ? [] : [
    { sid = "PublishEncrypted", actions = ["kms:Decrypt", "kms:GenerateDataKey"], resources = [var.status_topic_kms_key_arn] },
  ]

  kms_statements = var.kms_key_arn == null ? [] : [
    { sid = "UseDataKey", actions = ["kms:Decrypt", "kms:GenerateDataKey"], resources = [var.kms_key_arn] },
  ]
}

# --- Artifacts -----------------------------------------------------------------------------------

# Every build output goes to the artifacts bucket; Lambda and Glue take their code from there. (Creating
# functions from S3 also lets the provider create them in parallel: with local zips it does one at a time.)
resource "aws_s3_object" "artifact" {
  for_each = local.artifacts

  bucket = var.artifacts_bucket_name
  key    = each.key
  source = each.value
  # With SSE-KMS the ETag is no longer the MD5 of the content, so the hash is kept in state instead.
  etag        = var.kms_key_arn == null ? filemd5(each.value) : null
  source_hash = var.kms_key_arn == null ? null : filemd5(each.value)
}

# --- Lambda functions ----------------------------------------------------------------------------

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "lambda" {
  for_each = local.function_names

  name               = "${each.value}-lambda"
  description        = "Runs the ${each.key} function of the nightly ETL."
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

data "aws_iam_policy_document" "lambda" {
  for_each = local.function_names

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.lambda[each.key].arn}:*"]
  }


  dynamic "statement" {
    for_each = concat(
      local.function_statements[each.key],
      local.kms_statements,
      # Publishing to an encrypted topic needs its key: every function that may publish gets it.
      contains(flatten([for s in local.function_statements[each.key] : s.actions]), "sns:Publish") ? local.status_topic_kms_statements : [],
    )

    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }
}

resource "aws_iam_role_policy" "lambda" {
  for_each = local.function_names

  name   = "${each.value}-access"
  role   = aws_iam_role.lambda[each.key].id
  policy = data.aws_iam_policy_document.lambda[each.key].json
}

# X-Ray has no resource-level permissions: the AWS managed policy for sending traces keeps the wildcard out
# of the functions' own policies.
resource "aws_iam_role_policy_attachment" "lambda_tracing" {
  for_each = var.lambda_tracing_mode == "Active" ? local.function_names : {}

  role       = aws_iam_role.lambda[each.key].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"
}

resource "aws_cloudwatch_log_group" "lambda" {
  for_each = local.function_names

  #checkov:skip=CKV_AWS_338:Retention is log_retention_days, 365 days by default and in envs/aws; only the throwaway emulator stack (envs/local) keeps 7 days.
  #checkov:skip=CKV_AWS_158:Encrypted with log_kms_key_arn when the environment sets one (its key policy must let CloudWatch Logs use it); CloudWatch Logs' own encryption otherwise.
  name              = "/aws/lambda/${each.value}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
}

resource "aws_lambda_function" "this" {
  for_each = local.function_names

  #checkov:skip=CKV_AWS_116:The state machine invokes the functions synchronously and handles failures (Catch to track_failure, retries). The one asynchronous caller, EventBridge, invokes track_failure with events it keeps in the execution history; a failed invocation is retried by Lambda and shows in the function's Errors alarm.
  #checkov:skip=CKV_AWS_117:The functions reach only AWS APIs and the partner's HTTPS source; no VPC resource is involved, and a VPC would add NAT gateways or endpoints for nothing.
  #checkov:skip=CKV_AWS_272:The code comes from the build of this repository, uploaded by the same pipeline to the TLS-only, versioned, non-public artifacts bucket; there is no Signer profile to validate against.
  #checkov:skip=CKV_AWS_115:One execution per run date (backfills bounded by glue_max_concurrent_runs) caps concurrency already; reserving concurrency would take it from the account pool and fails in accounts with the default low quota.

  function_name    = each.value
  description      = "Nightly ETL: ${each.key}."
  role             = aws_iam_role.lambda[each.key].arn
  runtime          = var.lambda_runtime
  handler          = "handler.lambda_handler"
  s3_bucket        = var.artifacts_bucket_name
  s3_key           = aws_s3_object.artifact[local.lambda_keys[each.key]].key
  source_code_hash = filebase64sha256(local.artifacts[local.lambda_keys[each.key]])
  timeout          = local.timeouts[each.key]
  memory_size      = local.memory_sizes[each.key]
  # The variables hold names and URLs, no secrets (the Redash API key stays in SSM). Null: AWS managed key.
  kms_key_arn = var.kms_key_arn

  environment {
    variables = local.environment
  }

  tracing_config {
    mode = var.lambda_tracing_mode
  }

  # The log group must exist (with its retention) before the first invocation creates it, and the role
  # must hold its permissions before the function can be invoked.
  depends_on = [aws_cloudwatch_log_group.lambda, aws_iam_role_policy.lambda, aws_iam_role_policy_attachment.lambda_tracing]
}

# --- Glue job ------------------------------------------------------------------------------------

data "aws_iam_policy_document" "glue_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["glue.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "glue" {
  name               = "${var.name_prefix}-load-orders-glue"
  description        = "Runs the load_orders Glue job of the nightly ETL."
  assume_role_policy = data.aws_iam_policy_document.glue_assume.json
}

data "aws_iam_policy_document" "glue" {
  statement {
    sid       = "ReadJobCode"
    actions   = ["s3:GetObject"]
    resources = ["${var.artifacts_bucket_arn}/glue/*"]
  }

  statement {
    sid       = "ListStaging"
    actions   = ["s3:ListBucket"]
    resources = [var.staging_bucket_arn]
  }

  statement {
    sid       = "ReadWriteRunFiles"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = [local.staging_runs_objects]
  }

  statement {
    sid       = "LoadOrders"
    actions   = ["dynamodb:BatchWriteItem"]
    resources = [var.orders_table_arn]
  }

  statement {
    sid       = "WriteJobLogs"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group:/aws-glue/*"]
  }

  # PutMetricData has no resource-level permissions; the namespace condition narrows it instead.
  statement {
    sid       = "PublishJobMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["Glue"]
    }
  }

  # With encrypted logs (security configuration), Glue associates the key with the job's log groups.
  dynamic "statement" {
    for_each = var.log_kms_key_arn == null ? [] : [1]

    content {
      sid       = "EncryptJobLogs"
      actions   = ["logs:AssociateKmsKey"]
      resources = ["arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group:/aws-glue/*"]
    }
  }

  dynamic "statement" {
    for_each = local.kms_statements

    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }
}

resource "aws_iam_role_policy" "glue" {
  name   = "${var.name_prefix}-load-orders-access"
  role   = aws_iam_role.glue.id
  policy = data.aws_iam_policy_document.glue.json
}

# Encrypts what the job writes to S3 (staging run files); with customer managed keys also its CloudWatch logs
# (log_kms_key_arn) and job bookmarks (kms_key_arn).
resource "aws_glue_security_configuration" "load_orders" {
  #checkov:skip=CKV_AWS_99:CloudWatch and job bookmark encryption need customer managed keys: they are on when log_kms_key_arn and kms_key_arn are set. The job's S3 output is always encrypted (SSE-S3 without a key).
  name = "${var.name_prefix}-load-orders"

  encryption_configuration {
    s3_encryption {
      s3_encryption_mode = var.kms_key_arn == null ? "SSE-S3" : "SSE-KMS"
      kms_key_arn        = var.kms_key_arn
    }

    cloudwatch_encryption {
      cloudwatch_encryption_mode = var.log_kms_key_arn == null ? "DISABLED" : "SSE-KMS"
      kms_key_arn                = var.log_kms_key_arn
    }

    job_bookmarks_encryption {
      job_bookmarks_encryption_mode = var.kms_key_arn == null ? "DISABLED" : "CSE-KMS"
      kms_key_arn                   = var.kms_key_arn
    }
  }
}

resource "aws_glue_job" "load_orders" {
  name                   = "${var.name_prefix}-load-orders"
  description            = "Nightly ETL: join, validate and load the staged orders into DynamoDB."
  role_arn               = aws_iam_role.glue.arn
  glue_version           = var.glue_version
  worker_type            = var.glue_worker_type
  number_of_workers      = var.glue_number_of_workers
  execution_class        = "STANDARD"
  security_configuration = aws_glue_security_configuration.load_orders.name
  timeout                = var.glue_timeout_minutes
  # The state machine owns retries (with backoff); a Glue-level retry would double them.
  max_retries = 0

  command {
    name            = "glueetl"
    python_version  = "3"
    script_location = "s3://${var.artifacts_bucket_name}/${aws_s3_object.artifact[local.glue_script_key].key}"
  }

  default_arguments = {
    "--job-language"   = "python"
    "--staging_bucket" = var.staging_bucket_name
    "--orders_table"   = var.orders_table_name
    "--runs_table"     = var.runs_table_name
    "--extra-py-files" = "s3://${var.artifacts_bucket_name}/${aws_s3_object.artifact[local.glue_library_key].key}"
  }

  execution_property {
    max_concurrent_runs = var.glue_max_concurrent_runs
  }

  depends_on = [aws_iam_role_policy.glue]
}
