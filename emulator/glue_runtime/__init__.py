"""A Glue runtime: job runs execute their script from the emulator's S3 on local PySpark (Glue 5.0)."""

from emulator.glue_runtime.responses import GlueRuntimeExtension

__all__ = ["GlueRuntimeExtension"]
