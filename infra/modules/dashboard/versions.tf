terraform {
  # 1.9: a variable's validation may refer to another variable (allowed_cidr_blocks / allow_public_access).
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.80, < 6.0"
    }
  }
}
