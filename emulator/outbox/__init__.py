"""SNS email subscriptions delivered as `.eml` files in the emulator's outbox."""

from emulator.outbox.responses import OutboxExtension

__all__ = ["OutboxExtension"]
