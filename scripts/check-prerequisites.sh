#!/usr/bin/env bash
# Fails early, with what to install, when a prerequisite of the local stack is missing.
set -uo pipefail
missing=0
if ! command -v java >/dev/null; then
  echo "error: Java not found. The Glue runtime runs PySpark 3.5.4, which needs Java 17 (e.g. apt-get install openjdk-17-jre-headless)." >&2
  missing=1
fi
if ! command -v terraform >/dev/null; then
  echo "error: Terraform not found. Install Terraform >= 1.5 (https://developer.hashicorp.com/terraform/install)." >&2
  missing=1
fi
exit $missing
