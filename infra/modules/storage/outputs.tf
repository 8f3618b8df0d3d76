# The names are passed on only once the buckets are locked down: nothing is written to a bucket
# before its encryption, versioning and access rules are in place.
output "landing_bucket_name" {
  description = "Name of the landing bucket (the partner's drop and the reference data)."
  value       = aws_s3_bucket.this["landing"].id

  depends_on = [
    aws_s3_bucket_public_access_block.this,
    aws_s3_bucket_server_side_encryption_configuration.this,
    aws_s3_bucket_versioning.this,
    aws_s3_bucket_policy.tls_only,
  ]
}

output "landing_bucket_arn" {
  description = "ARN of the landing bucket."
  value       = aws_s3_bucket.this["landing"].arn
}

output "staging_bucket_name" {
  description = "Name of the staging bucket (per-run chunks, manifests, reports)."
  value       = aws_s3_bucket.this["staging"].id

  depends_on = [
    aws_s3_bucket_public_access_block.this,
    aws_s3_bucket_server_side_encryption_configuration.this,
    aws_s3_bucket_versioning.this,
    aws_s3_bucket_policy.tls_only,
  ]
}

output "staging_bucket_arn" {
  description = "ARN of the staging bucket."
  value       = aws_s3_bucket.this["staging"].arn
}

output "artifacts_bucket_name" {
  description = "Name of the artifacts bucket (Glue scripts and libraries)."
  value       = aws_s3_bucket.this["artifacts"].id

  depends_on = [
    aws_s3_bucket_public_access_block.this,
    aws_s3_bucket_server_side_encryption_configuration.this,
    aws_s3_bucket_versioning.this,
    aws_s3_bucket_policy.tls_only,
  ]
}

output "artifacts_bucket_arn" {
  description = "ARN of the artifacts bucket."
  value       = aws_s3_bucket.this["artifacts"].arn
}
