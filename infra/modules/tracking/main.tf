resource "aws_dynamodb_table" "orders" {
  name                        = "${var.name_prefix}-orders"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "order_id"
  deletion_protection_enabled = var.deletion_protection_enabled

  attribute {
    name = "order_id"
    type = "S"
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  point_in_time_recovery {
    enabled = var.point_in_time_recovery_enabled
  }
}

resource "aws_dynamodb_table" "runs" {
  name                        = "${var.name_prefix}-etl-runs"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "run_date"
  deletion_protection_enabled = var.deletion_protection_enabled

  attribute {
    name = "run_date"
    type = "S"
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  point_in_time_recovery {
    enabled = var.point_in_time_recovery_enabled
  }
}

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  retry_queue_name = "${var.name_prefix}-retry.fifo"
  # Known before the queue exists, so that the dead-letter queue can name the one queue it serves
  # without a dependency cycle (the retry queue's redrive policy names the dead-letter queue).
  retry_queue_arn = "arn:${data.aws_partition.current.partition}:sqs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:${local.retry_queue_name}"
}

# FIFO: every retry message carries a deduplication id (pipeline/retry.py), so a task that runs twice
# does not queue its records twice. The dead-letter queue of a FIFO queue must be FIFO as well.
resource "aws_sqs_queue" "retry_dlq" {
  name                              = "${var.name_prefix}-retry-dlq.fifo"
  fifo_queue                        = true
  message_retention_seconds         = var.message_retention_seconds
  sqs_managed_sse_enabled           = var.kms_key_arn == null ? true : null
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = var.kms_key_arn == null ? null : 300

  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [local.retry_queue_arn]
  })
}

resource "aws_sqs_queue" "retry" {
  name                              = local.retry_queue_name
  fifo_queue                        = true
  content_based_deduplication       = false
  visibility_timeout_seconds        = var.retry_visibility_timeout_seconds
  message_retention_seconds         = var.message_retention_seconds
  sqs_managed_sse_enabled           = var.kms_key_arn == null ? true : null
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = var.kms_key_arn == null ? null : 300

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.retry_dlq.arn
    maxReceiveCount     = var.retry_max_receive_count
  })
}
