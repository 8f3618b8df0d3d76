resource "aws_sns_topic" "status" {
  name              = "${var.name_prefix}-status"
  kms_master_key_id = var.kms_master_key_id
}

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.notification_emails)

  topic_arn = aws_sns_topic.status.arn
  protocol  = "email"
  endpoint  = each.value
}
