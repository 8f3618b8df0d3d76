"""EventBridge scheduled rules, fired on request or on their own schedule (moto never fires them)."""

from emulator.scheduler.responses import SchedulerExtension

__all__ = ["SchedulerExtension"]
