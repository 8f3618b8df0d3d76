"""What the Terraform AWS provider needs from moto to apply our stack, and to find nothing to change after.

Each fix is one function in ``patches`` (a change to moto's model) or an interceptor in ``responses``
(an answer on the wire); ``TerraformCompatExtension`` installs them all.
"""

from emulator.terraform_compat.responses import TerraformCompatExtension

__all__ = ["TerraformCompatExtension"]
