"""Step Functions actions the Terraform provider calls and moto does not implement."""

from emulator.stepfunctions_ext.responses import StepFunctionsExtension

__all__ = ["StepFunctionsExtension"]
