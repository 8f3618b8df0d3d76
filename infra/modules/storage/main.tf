locals {
  buckets = {
    landing   = "${var.name_prefix}-landing-${var.name_suffix}"
    staging   = "${var.name_prefix}-staging-${var.name_suffix}"
    artifacts = "${var.name_prefix}-artifacts-${var.name_suffix}"
  }
}

resource "aws_s3_bucket" "this" {
  for_each = local.buckets

  #checkov:skip=CKV_AWS_18:Server access logs need a separate log bucket this module does not own; object-level access is audited with the account's CloudTrail data events.
  #checkov:skip=CKV_AWS_144:Cross-region replication is not wanted: landing holds the partner's re-deliverable drop, staging holds per-run files and tracking files that expire, artifacts are rebuilt from the repository.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to object events: the state machine runs on a schedule and reads the buckets itself.
  #checkov:skip=CKV_AWS_145:Default encryption is SSE-KMS with kms_key_arn when the environment sets one, SSE-S3 otherwise (aws_s3_bucket_server_side_encryption_configuration.this).
  #checkov:skip=CKV_AWS_21:Versioning is enabled for every bucket by aws_s3_bucket_versioning.this (for_each), which the check does not connect to the bucket.
  #checkov:skip=CKV2_AWS_61:Every bucket has a lifecycle configuration: staging in aws_s3_bucket_lifecycle_configuration.staging, landing and artifacts in .retained (for_each), which the check does not always connect to the bucket.
  #checkov:skip=CKV2_AWS_6:Every bucket has a public access block blocking all four settings: aws_s3_bucket_public_access_block.this (for_each), which the check does not connect to the bucket.

  bucket        = each.value
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each = aws_s3_bucket.this

  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.kms_key_arn == null ? "AES256" : "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = var.kms_key_arn != null
  }
}

data "aws_iam_policy_document" "tls_only" {
  for_each = aws_s3_bucket.this

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      each.value.arn,
      "${each.value.arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "tls_only" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id
  policy = data.aws_iam_policy_document.tls_only[each.key].json

  # S3 answers OperationAborted to concurrent configuration changes of one bucket.
  depends_on = [aws_s3_bucket_public_access_block.this]
}

resource "aws_s3_bucket_lifecycle_configuration" "staging" {
  bucket = aws_s3_bucket.this["staging"].id

  rule {
    id     = "expire-runs"
    status = "Enabled"

    filter {
      prefix = "runs/"
    }

    expiration {
      days = var.staging_runs_expiration_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  # Payloads of retry messages too large for SQS: a pointer can wait on the retry queue and then on its
  # dead-letter queue (a FIFO move resets the message's retention), so the payload outlives both.
  rule {
    id     = "expire-retry-payloads"
    status = "Enabled"

    filter {
      prefix = "tracking/retry/"
    }

    expiration {
      days = var.retry_payload_expiration_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  # Quarantined records and unreadable messages: what a person inspects, or requeues after a fix.
  rule {
    id     = "expire-quarantine"
    status = "Enabled"

    filter {
      prefix = "tracking/quarantine/"
    }

    expiration {
      days = var.quarantine_expiration_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }

    expiration {
      expired_object_delete_marker = true
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  # Lifecycle rules on noncurrent versions need versioning to be configured first.
  depends_on = [aws_s3_bucket_versioning.this]
}

# Landing and artifacts keep their current objects; overwritten or deleted versions and abandoned multipart
# uploads would otherwise be kept (and billed) forever.
resource "aws_s3_bucket_lifecycle_configuration" "retained" {
  for_each = toset(["landing", "artifacts"])

  bucket = aws_s3_bucket.this[each.key].id

  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }

    expiration {
      expired_object_delete_marker = true
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}
