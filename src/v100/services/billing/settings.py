"""billing's own settings (prefix ``V100_BILLING_``)."""

from typing import ClassVar

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from v100.kit.settings import ServiceSettings


class TopUpPack(BaseModel):
    """A credit pack sold through Stripe Checkout."""

    credits: int = Field(gt=0)
    # In the currency's smallest unit (cents).
    price: int = Field(gt=0)
    currency: str = "usd"
    name: str


DEFAULT_PACKS = {
    "small": TopUpPack(credits=1_000, price=1_000, name="1,000 credits"),
    "medium": TopUpPack(credits=5_000, price=4_500, name="5,000 credits"),
    "large": TopUpPack(credits=20_000, price=16_000, name="20,000 credits"),
}


class BillingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_BILLING_", extra="ignore")
    service: ClassVar[str] = "billing"
    port: int = 8085

    # Every tenant's first use of its account grants this much, once (promotional, no expiry).
    free_tier_credits: int = Field(default=1_000, ge=0)
    # credits.low is published when the available balance falls below this.
    low_balance_threshold: int = Field(default=100, ge=0)
    # A hold without an explicit expiry lapses after this long.
    default_hold_seconds: int = Field(default=900, ge=1)
    max_hold_seconds: int = Field(default=7 * 24 * 3600, ge=1)
    # How often the expiry job runs (cron); reads also expire what is due.
    expiry_cron: str = "* * * * *"
    events_stream: str = "credits"

    stripe_api_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    # Tests point this at the fake Stripe server; None keeps the SDK's default.
    stripe_api_base: str | None = None
    # Webhooks signed longer ago than this are refused (Stripe's SDK default).
    stripe_webhook_tolerance_seconds: int = Field(default=300, ge=1)
    checkout_success_url: str = "http://127.0.0.1:4000/checkout/success"
    checkout_cancel_url: str = "http://127.0.0.1:4000/checkout/cancel"
    top_up_packs: dict[str, TopUpPack] = Field(default_factory=lambda: dict(DEFAULT_PACKS))
