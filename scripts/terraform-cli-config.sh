#!/usr/bin/env bash
# Writes the Terraform CLI configuration used by every Makefile target.
# Online, providers come from the registry as usual. Where a local provider mirror exists
# (TF_PROVIDER_MIRROR, or a registry.terraform.io folder found on this machine), Terraform
# installs hashicorp/aws from it and nothing is downloaded.
set -euo pipefail
out=${1:?usage: terraform-cli-config.sh OUTPUT_FILE}
mkdir -p "$(dirname "$out")"

mirror=${TF_PROVIDER_MIRROR:-}
if [ -z "$mirror" ]; then
  for candidate in "$HOME/.terraform.d/plugins" /usr/local/share/terraform/plugins \
                   /usr/share/terraform/plugins "$HOME/.local/share/terraform/plugins"; do
    if [ -d "$candidate/registry.terraform.io/hashicorp/aws" ]; then mirror=$candidate; break; fi
  done
fi
if [ -z "$mirror" ] && [ "${TF_FIND_MIRROR:-1}" = 1 ]; then
  # Temporary folders, build outputs and Terraform's own working copies (plugin caches, .terraform,
  # TF_DATA_DIR providers) are not mirrors.
  found=$(find / -xdev \( -path /tmp -o -path /proc -o -name .terraform -o -name plugin-cache -o -name providers -o -path "*/build" \) -prune -o \
    -type d -path '*/registry.terraform.io/hashicorp/aws' -print 2>/dev/null | head -n 1 || true)
  [ -n "$found" ] && mirror=${found%/registry.terraform.io/hashicorp/aws}
fi

if [ -n "$mirror" ]; then
  cat >"$out" <<CFG
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = ["registry.terraform.io/hashicorp/aws"]
  }
  direct {
    exclude = ["registry.terraform.io/hashicorp/aws"]
  }
}
CFG
  echo "terraform: hashicorp/aws from the local mirror $mirror"
else
  : >"$out"
  echo "terraform: providers from the public registry"
fi
