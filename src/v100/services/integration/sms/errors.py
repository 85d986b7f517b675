"""SMS problems (RFC 9457 types under ``/problems/``):

SenderNotFound          404  not-found
SmsMessageNotFound      404  not-found
SenderExists            409  sender-exists         (the number or Messaging Service is
                                                     registered already, by this tenant or
                                                     another: inbound messages find their
                                                     tenant by it)
NoSender                409  no-sender             (a send naming no sender, and no default)
RecipientOptedOut       409  recipient-opted-out   (the recipient texted STOP to this sender;
                                                     nothing is sent until they text START)
MessageNotCancelable    409  message-not-cancelable (handed to Twilio already, or finished)
InvalidTwilioSignature  403  invalid-signature     (a callback whose X-Twilio-Signature does
                                                     not check out; nothing is changed)
NotConfigured           501  not-configured        (kit's: no Twilio account on this
                                                     installation)
"""

from __future__ import annotations

from v100.kit.errors import Conflict, Forbidden, NotFound

__all__ = [
    "InvalidTwilioSignature",
    "MessageNotCancelable",
    "NoSender",
    "RecipientOptedOut",
    "SenderExists",
    "SenderNotFound",
    "SmsMessageNotFound",
]


class SenderNotFound(NotFound):
    title = "No such SMS sender"


class SmsMessageNotFound(NotFound):
    title = "No such SMS message"


class SenderExists(Conflict):
    slug = "sender-exists"
    title = "This sender is registered already"


class NoSender(Conflict):
    slug = "no-sender"
    title = "No sender to send from"


class RecipientOptedOut(Conflict):
    slug = "recipient-opted-out"
    title = "The recipient opted out of this sender's messages"


class MessageNotCancelable(Conflict):
    slug = "message-not-cancelable"
    title = "The message can no longer be canceled"


class InvalidTwilioSignature(Forbidden):
    slug = "invalid-signature"
    title = "Twilio signature verification failed"
