"""integration's own settings (prefix ``V100_INTEGRATION_``)."""

from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from v100.kit.settings import ServiceSettings

# Svix's schedule: the first attempt at once, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h
# after each failure (eight attempts over about 28 hours).
SVIX_SCHEDULE: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)


class IntegrationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_INTEGRATION_", extra="ignore")
    service: ClassVar[str] = "integration"
    port: int = 3009

    # Development and tests only: lets endpoints point at 127.0.0.0/8 and ::1 (a receiver on
    # this machine). Off, a receiver must resolve to public addresses only, as URL imports.
    allow_loopback_receivers: bool = False
    # Test rigs only: refuse every receiver outside loopback, so no test can send a delivery
    # off this machine whatever URL it registers (implies allow_loopback_receivers).
    receivers_loopback_only: bool = False
    # Networks a self-hoster's own receivers live in (CIDRs), allowed though not public.
    receiver_allow_cidrs: tuple[str, ...] = ()
    # Seconds before each attempt, counted from the failure before it (the first from the
    # event); its length is the number of attempts. Each wait is jittered by +-jitter_ratio.
    retry_schedule_seconds: tuple[float, ...] = Field(default=SVIX_SCHEDULE, min_length=1)
    retry_jitter_ratio: float = Field(default=0.1, ge=0, le=0.5)
    # A 2xx within this long counts as delivered; anything slower is a failed attempt.
    attempt_timeout_seconds: float = Field(default=15.0, gt=0, le=60)
    # An endpoint whose every attempt failed for this long is disabled (endpoint.disabled).
    disable_after_failing_seconds: float = Field(default=5 * 24 * 3600, gt=0)
    # During a secret rotation, the old secret still signs (beside the new one) this long.
    secret_overlap_seconds: int = Field(default=24 * 3600, ge=0, le=7 * 24 * 3600)
    # Attempts in flight at once in this process, and per endpoint: a slow or failing receiver
    # holds at most its own share, never the whole process (no head-of-line blocking).
    delivery_concurrency: int = Field(default=64, ge=1, le=4096)
    endpoint_concurrency: int = Field(default=8, ge=1, le=256)
    # How often the dispatcher looks for due deliveries when nothing woke it.
    dispatch_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    # A claimed delivery whose process died is taken up again after this long.
    delivery_lease_seconds: float = Field(default=60.0, ge=1)
    # Bytes of a receiver's answer kept in the attempts log.
    response_excerpt_bytes: int = Field(default=1024, ge=0, le=65536)
    # The consumer group integration reads the platform's streams with.
    consumer_group: str = "integration"
    # Messages (and the event stream) are kept this long.
    retention_days: int = Field(default=30, ge=1, le=3650)
    # A new consumer group starts at the oldest event the streams keep (so nothing published
    # before integration first ran is lost); False: only events published from then on.
    consume_from_start: bool = True
    # The event stream serves messages recorded at least this long ago, so a transaction that
    # commits late (another replica's) is never skipped by a cursor that moved past its id.
    stream_settle_seconds: float = Field(default=0.5, ge=0, le=30)
    # A consumer group's read hides an event this long (unless the read names another); not
    # acknowledged by then, it comes back to a later read.
    stream_visibility_timeout_seconds: int = Field(default=30, ge=1, le=12 * 3600)
    # A subscriber (SSE, WebSocket) with nothing new looks again this often, and says it is
    # alive (an SSE comment) every ``stream_heartbeat_seconds``.
    stream_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    stream_heartbeat_seconds: float = Field(default=15.0, gt=0, le=300)
    # Events held for a subscriber that reads slower than they come; past that it catches up
    # from the database (from its last event), so a slow reader costs memory only this far.
    stream_subscriber_buffer: int = Field(default=1000, ge=1, le=100_000)

    # -- CRM (docs/integration.md, "CRM") --------------------------------------------------
    # A connection's contacts and activities are synced this often (and at once on demand).
    crm_sync_interval_seconds: float = Field(default=300.0, gt=0, le=86400)
    # How often the sync loop looks for connections due when nothing woke it.
    crm_sync_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    # A sync claimed by a process that died is taken up again after this long.
    crm_sync_lease_seconds: float = Field(default=300.0, ge=1)
    # An access token with less than this left is refreshed before it is used.
    crm_refresh_ahead_seconds: float = Field(default=300.0, ge=0, le=3600)
    # An OAuth ``state`` (one authorization attempt) is good once, for this long.
    crm_state_ttl_seconds: int = Field(default=600, ge=30, le=3600)
    # A vendor's "slow down" (HubSpot 429, Salesforce REQUEST_LIMIT_EXCEEDED) is waited out up
    # to this many times, each wait at most crm_max_wait_seconds; past that the sync stops
    # where its cursor stands and resumes once the vendor's wait is over.
    crm_rate_limit_retries: int = Field(default=3, ge=0, le=10)
    crm_max_wait_seconds: float = Field(default=10.0, ge=0, le=300)
    # Each request to a vendor must answer within this long.
    crm_request_timeout_seconds: float = Field(default=20.0, gt=0, le=120)
    # Records asked for per page of a pull (HubSpot's search takes at most 200).
    crm_page_size: int = Field(default=100, ge=1, le=200)
    # HubSpot's OAuth app (unset: connecting HubSpot answers 501) and where its API lives.
    hubspot_client_id: str | None = None
    hubspot_client_secret: SecretStr | None = None
    hubspot_authorize_url: str = "https://app.hubspot.com/oauth/authorize"
    hubspot_api_url: str = "https://api.hubapi.com"
    hubspot_scopes: tuple[str, ...] = (
        "crm.objects.contacts.read",
        "crm.objects.contacts.write",
        "oauth",
    )
    # Salesforce's connected app (unset: connecting Salesforce answers 501); its login host
    # serves authorize and token; the API is at the ``instance_url`` the token answer names.
    salesforce_client_id: str | None = None
    salesforce_client_secret: SecretStr | None = None
    salesforce_login_url: str = "https://login.salesforce.com"
    salesforce_api_version: str = "v60.0"
    # Salesforce's token answer has no lifetime (the org's session timeout decides): assume
    # this one, so tokens are refreshed ahead of it too (and on any 401).
    salesforce_session_seconds: int = Field(default=7200, ge=300, le=86400)
    # -- SMS through Twilio (docs/integration.md, "SMS") --------------------------------------
    # The platform's Twilio account; SMS routes answer 501 not-configured without both.
    twilio_account_sid: str | None = Field(default=None, pattern=r"^AC[0-9a-fA-F]{32}$")
    twilio_auth_token: SecretStr | None = None
    # Where the SDK sends its REST calls (None: Twilio's own); tests point it at a local fake.
    twilio_api_base_url: str | None = None
    # The public base URL Twilio posts status callbacks and inbound messages to, and the URL
    # their signatures are checked against (None: the platform's public_url, the gateway).
    sms_public_url: str | None = None
    # Seconds before each try to hand a message to Twilio, after a 429, a 5xx or no answer
    # (the first at once); its length is the number of tries.
    sms_retry_schedule_seconds: tuple[float, ...] = Field(
        default=(0, 5, 30, 120, 600), min_length=1
    )
    # A message being handed to Twilio by a process that died is tried again after this long.
    sms_send_lease_seconds: float = Field(default=60.0, ge=1)
    # How often the outbox looks for due messages (scheduled sends, retries) when not woken.
    sms_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    # One REST call to Twilio takes at most this long.
    twilio_timeout_seconds: float = Field(default=15.0, gt=0, le=120)
    # Messages handed to Twilio at once by this process.
    sms_concurrency: int = Field(default=8, ge=1, le=256)

    @property
    def sms_configured(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token)

    @property
    def sms_base_url(self) -> str:
        return (self.sms_public_url or self.platform.public_url).rstrip("/")
