"""Text that AWS services refuse, found and made visible.

SQS accepts only the XML 1.0 characters in a message body: #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD |
#x10000-#x10FFFF (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html);
SNS takes only UTF-8 messages (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html), and DynamoDB
stores strings as UTF-8 (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html):
neither has an encoding for an unpaired surrogate, and a control character is no text for an email reader.
A record that holds such a character can be loaded by no path that queues, emails or stores it, so the
contract rejects it at validation, and text that must be kept (an example in a report, a raw row in an
email) is escaped with :func:`escape_refused`.
Pure functions only.
"""

from __future__ import annotations

import re

# Everything outside the XML 1.0 character set, surrogates (paired or not) included: a str holding a
# surrogate code point is one Python could not encode to UTF-8.
REFUSED = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


_SURROGATE = re.compile("[\ud800-\udfff]")


def has_surrogate(text: str) -> bool:
    """Whether ``text`` holds a surrogate code point, which no UTF-8 encoder accepts."""
    return _SURROGATE.search(text) is not None


def first_refused(text: str) -> tuple[int, str] | None:
    """The position and character of the first character AWS refuses in ``text``, or None."""
    match = REFUSED.search(text)
    return (match.start(), match.group()) if match else None


def describe(char: str) -> str:
    """``U+FFFE`` for a person reading a rejection reason."""
    return f"U+{ord(char):04X}"


def escape_refused(text: str) -> str:
    """``text`` with every refused character replaced by its visible ``\\uXXXX`` escape.

    Idempotent for text that holds no refused character; a backslash already in the text is left alone
    (the escape is for a person reading an email or a report, not for a parser to reverse).
    """
    return REFUSED.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
