terraform {
  # 1.10+: the S3 backend locks with a lock file next to the state (use_lockfile), no DynamoDB table needed.
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }

  # Configured per environment: terraform init -backend-config=backends/<env>.s3.tfbackend
  backend "s3" {}
}
