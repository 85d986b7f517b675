"""The CRMs this installation can connect to, built from integration's settings: a vendor
without its OAuth app configured answers 501 ``not-configured``."""

from __future__ import annotations

from v100.kit.errors import NotConfigured
from v100.services.integration.crm.hubspot import HubSpot
from v100.services.integration.crm.oauth import OAuthApp
from v100.services.integration.crm.salesforce import Salesforce
from v100.services.integration.crm.vendors import CrmVendor
from v100.services.integration.settings import IntegrationSettings

__all__ = ["CALLBACK_PATH", "Connectors"]

CALLBACK_PATH = "/v1/crm/oauth/callback"


class Connectors:
    def __init__(self, settings: IntegrationSettings) -> None:
        self.redirect_uri = settings.platform.public_url.rstrip("/") + CALLBACK_PATH
        timeout = settings.crm_request_timeout_seconds
        self._vendors: dict[str, CrmVendor] = {}
        if settings.hubspot_client_id and settings.hubspot_client_secret:
            api = settings.hubspot_api_url.rstrip("/")
            oauth = OAuthApp(
                settings.hubspot_client_id,
                settings.hubspot_client_secret.get_secret_value(),
                authorize_endpoint=settings.hubspot_authorize_url,
                token_endpoint=f"{api}/oauth/v1/token",
                scopes=settings.hubspot_scopes,
                timeout=timeout,
            )
            self._vendors["hubspot"] = HubSpot(oauth, api, timeout)
        if settings.salesforce_client_id and settings.salesforce_client_secret:
            login = settings.salesforce_login_url.rstrip("/")
            oauth = OAuthApp(
                settings.salesforce_client_id,
                settings.salesforce_client_secret.get_secret_value(),
                authorize_endpoint=f"{login}/services/oauth2/authorize",
                token_endpoint=f"{login}/services/oauth2/token",
                scopes=("api", "refresh_token"),
                timeout=timeout,
                default_lifetime_seconds=settings.salesforce_session_seconds,
            )
            self._vendors["salesforce"] = Salesforce(
                oauth, settings.salesforce_api_version, timeout
            )

    def get(self, vendor: str) -> CrmVendor:
        found = self._vendors.get(vendor)
        if found is None:
            raise NotConfigured(
                f"{vendor} is not configured on this installation "
                f"(V100_INTEGRATION_{vendor.upper()}_CLIENT_ID and _CLIENT_SECRET)."
            )
        return found

    async def aclose(self) -> None:
        for vendor in self._vendors.values():
            await vendor.aclose()
