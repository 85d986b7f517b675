"""What billing_engine's endpoints are given, typed: its settings and, when configured, its
Stripe client."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from v100.kit.errors import NotConfigured
from v100.kit.http import ProvidedIfAny, SettingsOf
from v100.services.billing_engine.providers.stripe import StripeInvoicing
from v100.services.billing_engine.settings import BillingEngineSettings

__all__ = ["SettingsDep", "StripeDep"]

SettingsDep = Annotated[BillingEngineSettings, Depends(SettingsOf(BillingEngineSettings))]


async def get_stripe(
    stripe: Annotated[StripeInvoicing | None, Depends(ProvidedIfAny(StripeInvoicing))],
) -> StripeInvoicing:
    if stripe is None:
        raise NotConfigured("Stripe is not configured on this billing_engine.")
    return stripe


StripeDep = Annotated[StripeInvoicing, Depends(get_stripe)]
