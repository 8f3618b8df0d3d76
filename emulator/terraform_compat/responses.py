"""The extension hooked in ``emulator.server``: it answers no request itself, it fixes moto's models."""

from __future__ import annotations

from emulator.app import EmulatorApp
from emulator.terraform_compat import patches


class TerraformCompatExtension:
    name = "terraform_compat"

    def install(self, app: EmulatorApp) -> None:
        for patch in patches.ALL:
            patch()
