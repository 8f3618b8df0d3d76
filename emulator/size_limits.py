"""AWS's size limits on what is written to DynamoDB and published to SNS, where moto's differ.

- **A DynamoDB item is at most 400 KB** (409,600 bytes: DynamoDB's KB is 1,024 bytes), counted by its
  sizing rules: attribute names plus values, numbers by their significant digits, 3 bytes per list or map
  plus one per element ([constraints](https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Constraints.html),
  [item sizes](https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html)).
  moto counts its own way (a number's characters, no overhead for lists and maps) against 405,000, so an item
  made mostly of maps passed moto and failed on AWS. Here a PutItem (BatchWriteItem's and
  TransactWriteItems' puts too) and the result of an UpdateItem are also sized by AWS's rules
  (``emulator.dynamodb_capacity.item_size``, kept as a running total by ``emulator.speedups``) and refused
  over 409,600 bytes with moto's own errors: ValidationException "Item size has exceeded the maximum
  allowed size" for a put, "Item size to update has exceeded the maximum allowed size" for an update.
  moto's 405,000 cap stays, so an item between 405,000 and 409,600 bytes by moto's count is refused here and
  accepted on AWS (stricter, never looser).
- **An UpdateItem refused for its size changes nothing.** moto applies the update's actions to the stored
  item one by one and raised when one went over its cap, leaving the earlier actions applied (a refused
  ``SET a = :big, b = :big`` kept ``a``). The item is now put back as it was (or removed if the update
  created it), as DynamoDB's all-or-nothing writes leave it.
- **An SNS message is at most 256 KB counted in UTF-8 bytes** ("262,144 bytes, not 262,144 characters",
  [Publish](https://docs.aws.amazon.com/sns/latest/api/API_Publish.html)); moto counted characters, so a
  message of 131,073 two-byte characters passed. Publish over 262,144 bytes is refused with moto's own
  InvalidParameter "Invalid parameter: Message too long".

Not covered: a BatchWriteItem with one oversized item leaves the items moto wrote before it (DynamoDB
refuses the whole request); DynamoDB Streams records of a refused write are not taken back; PublishBatch's
total of 256 KB.
"""

from __future__ import annotations

import copy
import functools
import threading
from typing import Any

from emulator.app import EmulatorApp

DYNAMODB_ITEM_LIMIT = 400 * 1024
SNS_MESSAGE_LIMIT = 256 * 1024

_lock = threading.Lock()
_installed = False


class SizeLimitsExtension:
    name = "size_limits"

    def install(self, app: EmulatorApp) -> None:
        install()


def install() -> None:
    """Patch moto's DynamoDB and SNS backends, once per process."""
    global _installed
    with _lock:
        if _installed:
            return
        from moto.dynamodb.models import DynamoDBBackend
        from moto.sns.models import SNSBackend

        _limit_puts(DynamoDBBackend)
        _limit_updates(DynamoDBBackend)
        _limit_messages(SNSBackend)
        _installed = True


def aws_size(attrs: Any) -> int:
    """An item's size by AWS's rules: the running total when it is known, else counted."""
    from emulator.dynamodb_capacity import item_size
    from emulator.speedups import aws_item_size

    known = aws_item_size(attrs)
    return item_size(attrs) if known is None else known


def _limit_puts(backend_class: type) -> None:
    from moto.dynamodb.exceptions import ItemSizeTooLarge

    original = backend_class.put_item

    @functools.wraps(original)
    def put_item(self: Any, table_name: str, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        try:
            table = self.get_table(table_name)
            hash_key, range_key = self.get_keys_value(table, item_attrs)
        except Exception:  # a missing table or key: moto's own error, from moto
            return original(self, table_name, item_attrs, *args, **kwargs)
        previous = table.get_item(hash_key, range_key)
        item = original(self, table_name, item_attrs, *args, **kwargs)
        if aws_size(item.attrs) > DYNAMODB_ITEM_LIMIT:
            _put_back(table, hash_key, range_key, previous)
            raise ItemSizeTooLarge
        return item

    backend_class.put_item = put_item


def _limit_updates(backend_class: type) -> None:
    from moto.dynamodb.exceptions import ItemSizeTooLarge, ItemSizeToUpdateTooLarge

    original = backend_class.update_item

    @functools.wraps(original)
    def update_item(self: Any, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        try:
            table = self.get_table(table_name)
            hash_key, range_key = self.get_keys_value(table, key)
        except Exception:  # a missing table or key: moto's own error, from moto
            return original(self, table_name, key, *args, **kwargs)
        stored = table.get_item(hash_key, range_key)
        before = copy.deepcopy(stored.attrs) if stored is not None else None
        try:
            item = original(self, table_name, key, *args, **kwargs)
            if aws_size(item.attrs) > DYNAMODB_ITEM_LIMIT:
                raise ItemSizeToUpdateTooLarge()
        except (ItemSizeTooLarge, ItemSizeToUpdateTooLarge):
            if stored is None:
                _put_back(table, hash_key, range_key, None)
            else:
                stored.attrs = before
                _put_back(table, hash_key, range_key, stored)
            raise
        return item

    backend_class.update_item = update_item


def _put_back(table: Any, hash_key: Any, range_key: Any, item: Any) -> None:
    """Store ``item`` under its key again, or remove what is stored there when there was none."""
    if range_key is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
        return
    if item is None:
        table.items.get(hash_key, {}).pop(range_key, None)
    else:
        table.items[hash_key][range_key] = item


def _limit_messages(backend_class: type) -> None:
    from moto.sns.exceptions import InvalidParameterValue

    original = backend_class.publish

    @functools.wraps(original)
    def publish(self: Any, message: str, *args: Any, **kwargs: Any) -> Any:
        if isinstance(message, str) and len(message.encode("utf-8", "surrogatepass")) > SNS_MESSAGE_LIMIT:
            raise InvalidParameterValue(
                "An error occurred (InvalidParameter) when calling the Publish operation: "
                "Invalid parameter: Message too long"
            )
        return original(self, message, *args, **kwargs)

    backend_class.publish = publish
