"""What the Terraform AWS provider needs from moto to apply our stack, and to find nothing to change after.

Each fix is one function in ``patches``, a change to moto's model for something the provider writes and
reads back (or relies on); ``TerraformCompatExtension`` applies them all when the emulator starts.
"""

from emulator.terraform_compat.responses import TerraformCompatExtension

__all__ = ["TerraformCompatExtension"]
