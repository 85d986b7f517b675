"""billing_engine's own settings (prefix ``V100_BILLING_ENGINE_``). Stripe sync is on when
``stripe_api_key`` is set; without it invoices stay local (no customer, no push, no webhook)."""

from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from v100.kit.settings import ServiceSettings


class BillingEngineSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_BILLING_ENGINE_", extra="ignore")
    service: ClassVar[str] = "billing_engine"
    port: int = 8086

    stripe_api_key: SecretStr | None = None
    # Verifies ``/v1/invoices/webhooks/stripe``; without it every event is refused (400).
    stripe_webhook_secret: SecretStr | None = None
    # Tests point this at the fake Stripe server; None keeps the SDK's default.
    stripe_api_base: str | None = None
    # Webhooks signed longer ago than this are refused (Stripe's SDK default).
    stripe_webhook_tolerance_seconds: int = Field(default=300, ge=1)
    # Where Stripe Checkout (a card on file for a priced plan) sends the customer back; a path
    # is taken from the platform's public URL (V100_PUBLIC_URL).
    checkout_success_url: str = "/billing/subscription?checkout=success"
    checkout_cancel_url: str = "/billing/subscription?checkout=cancel"

    def public(self, url: str) -> str:
        return self.platform.public_url.rstrip("/") + url if url.startswith("/") else url

    @property
    def stripe_sync(self) -> bool:
        return self.stripe_api_key is not None
