"""The one HTTP client each CRM adapter calls its vendor's API with: a bearer token, JSON, the
timeout, and a vendor that does not answer turned into ``VendorError``."""

from __future__ import annotations

from typing import Any

import httpx

from v100.services.integration.crm.vendors import VendorError

__all__ = ["VendorHttp", "retry_after_seconds"]


def retry_after_seconds(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


class VendorHttp:
    def __init__(self, timeout: float) -> None:
        self.client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    async def request(
        self, method: str, url: str, token: str, *, json: Any = None,
        params: dict[str, str] | None = None, headers: dict[str, str] | None = None,
    ) -> httpx.Response:  # fmt: skip
        try:
            return await self.client.request(
                method, url, json=json, params=params,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json",
                         **(headers or {})},
            )  # fmt: skip
        except httpx.HTTPError as exc:
            raise VendorError(0, f"the vendor did not answer ({type(exc).__name__})") from exc

    async def aclose(self) -> None:
        await self.client.aclose()
