terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }

  # State lives next to the emulator's state: `terraform init -backend-config=path=<state dir>/terraform.tfstate`.
  backend "local" {}
}
