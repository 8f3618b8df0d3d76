data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

locals {
  create_key = var.kms_master_key_id == null
  # The topic's key: the one this module creates unless the environment brings its own.
  kms_key_id = local.create_key ? aws_kms_key.status[0].arn : var.kms_master_key_id
}

# A customer managed key, because the AWS managed key alias/aws/sns has a key policy no one can change:
# CloudWatch alarms and EventBridge rules cannot use it, so they could never publish to the topic.
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Notify_Users_Alarm_Changes.html
# https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services
resource "aws_kms_key" "status" {
  count = local.create_key ? 1 : 0

  description             = "Encrypts the ${var.name_prefix} status topic; CloudWatch alarms and EventBridge rules may publish through it."
  enable_key_rotation     = true
  deletion_window_in_days = 30
  # A key policy's "Resource": "*" is the key itself.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # The account administers the key and grants its own principals (the publishing functions) with IAM.
        Sid       = "AccountAdministersTheKey"
        Effect    = "Allow"
        Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        # What a service needs to publish to an encrypted topic: a data key, and decrypting it. CloudWatch
        # names the alarm's account (aws:SourceAccount), so only this account's alarms may use the key.
        Sid       = "AlarmsPublish"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        Condition = { StringEquals = { "aws:SourceAccount" = data.aws_caller_identity.current.account_id } }
      },
      {
        # EventBridge's requests to KMS for a rule's delivery carry no aws:SourceAccount or aws:SourceArn: a
        # condition on them would drop every event. Publishing still needs sns:Publish on the topic itself.
        Sid       = "RulesPublish"
        Effect    = "Allow"
        Principal = { Service = "events.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
      },
    ]
  })
}

resource "aws_kms_alias" "status" {
  count = local.create_key ? 1 : 0

  name          = "alias/${var.name_prefix}-status"
  target_key_id = aws_kms_key.status[0].key_id
}

resource "aws_sns_topic" "status" {
  name              = "${var.name_prefix}-status"
  kms_master_key_id = local.kms_key_id
}

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.notification_emails)

  topic_arn = aws_sns_topic.status.arn
  protocol  = "email"
  endpoint  = each.value
}
