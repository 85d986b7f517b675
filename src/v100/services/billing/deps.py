"""What billing's endpoints are given, typed: its settings, ``CreditService`` on the request's
session, the deduction batcher and, when configured, Stripe Checkout."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from v100.kit.errors import NotConfigured
from v100.kit.http import Provided, ProvidedIfAny, RuntimeDep, SessionDep, SettingsOf
from v100.services.billing.batching import DeductionBatcher
from v100.services.billing.providers.stripe import StripeCheckout
from v100.services.billing.service import CreditService
from v100.services.billing.settings import BillingSettings

__all__ = ["CreditsDep", "DeductionsDep", "SettingsDep", "StripeDep"]

SettingsDep = Annotated[BillingSettings, Depends(SettingsOf(BillingSettings))]
DeductionsDep = Annotated[DeductionBatcher, Depends(Provided(DeductionBatcher))]


async def get_credits(
    session: SessionDep, runtime: RuntimeDep, settings: SettingsDep
) -> CreditService:
    return CreditService(session, settings, runtime.bus)


CreditsDep = Annotated[CreditService, Depends(get_credits)]


async def get_stripe(
    stripe: Annotated[StripeCheckout | None, Depends(ProvidedIfAny(StripeCheckout))],
) -> StripeCheckout:
    if stripe is None:
        raise NotConfigured("Stripe is not configured on this billing service.")
    return stripe


StripeDep = Annotated[StripeCheckout, Depends(get_stripe)]
