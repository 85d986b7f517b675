"""Where Twilio calls V100 back, and what an inbound text means: the two public paths (their
only credential is Twilio's ``X-Twilio-Signature``), the URL each message's status callback is
given, and the keywords Twilio's Advanced Opt-Out recognises."""

from __future__ import annotations

from urllib.parse import urlencode

from v100.services.integration.settings import IntegrationSettings

__all__ = [
    "INBOUND_PATH",
    "OPT_IN_KEYWORDS",
    "OPT_OUT_KEYWORDS",
    "PUBLIC_PATHS",
    "STATUS_PATH",
    "inbound_url",
    "keyword_of",
    "status_callback_url",
]

STATUS_PATH = "/v1/sms/callbacks/status"
INBOUND_PATH = "/v1/sms/callbacks/inbound"
PUBLIC_PATHS = (STATUS_PATH, INBOUND_PATH)

# Twilio's default opt-out and opt-in keywords: the whole message, any case.
OPT_OUT_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP", "YES"})


def status_callback_url(settings: IntegrationSettings, message_id: str) -> str:
    """The StatusCallback a message is sent with: the public URL, naming the message, so a
    callback that comes before the answer to the send (it can) still finds its message."""
    return f"{settings.sms_base_url}{STATUS_PATH}?{urlencode({'message_id': message_id})}"


def inbound_url(settings: IntegrationSettings) -> str:
    return f"{settings.sms_base_url}{INBOUND_PATH}"


def keyword_of(body: str) -> str | None:
    """The opt-out or opt-in keyword a text is, if it is one (only the keyword, trimmed)."""
    word = body.strip().upper()
    return word if word in OPT_OUT_KEYWORDS or word in OPT_IN_KEYWORDS else None
