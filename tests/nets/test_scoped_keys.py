"""Issue 11, row 1, as the probe sent it: through the gateway, an API key made with
``["videos:read"]`` spent credits, held and released them, changed and deleted projects,
started videos, clips, media jobs, recordings and uploads, and read the credit audit. Each of
those is now 403, the key still reads videos, and nothing was done."""

from __future__ import annotations

import uuid
from pathlib import Path

from .support import embedded_platform


async def test_a_videos_read_key_does_only_that(tmp_path: Path) -> None:
    async with embedded_platform(tmp_path) as platform:
        owner = await platform.signup("Probe")
        http = platform.gateway
        made = await http.post(
            "/v1/api-keys", json={"name": "ro", "scopes": ["videos:read"]}, headers=owner.headers
        )
        assert made.status_code == 201, made.text
        key = {"X-API-Key": made.json()["key"]}
        project = await http.post("/v1/projects", json={"name": "P"}, headers=owner.headers)
        assert project.status_code == 201, project.text
        project_id = project.json()["id"]
        balance = (await http.get("/v1/credits/balance", headers=owner.headers)).json()

        attempts = [
            ("POST", "/v1/credits/deductions", {"amount": 5, "reason": "probe"}),
            ("POST", "/v1/credits/holds", {"amount": 5, "reason": "probe"}),
            ("GET", "/v1/credits/audit", None),
            ("PATCH", f"/v1/projects/{project_id}", {"name": "changed"}),
            ("DELETE", f"/v1/projects/{project_id}", None),
            ("POST", "/v1/videos", {"input_url": "https://example.com/a.mp4"}),
            ("POST", "/v1/clips", {"video_id": str(uuid.uuid4()), "start": 0, "end": 1}),
            ("POST", "/v1/media/jobs", {"operation": "thumbnail", "input": "x"}),
            ("POST", "/v1/recordings", {"title": "probe"}),
            ("POST", "/v1/uploads", {}),
            ("POST", "/v1/plans", {"code": "x"}),
            ("POST", "/v1/api-keys", {"name": "wider", "scopes": ["*"]}),
        ]
        allowed = []
        for method, path, body in attempts:
            answer = await http.request(
                method, path, json=body, headers={**key, "Idempotency-Key": uuid.uuid4().hex}
            )
            if answer.status_code != 403:
                allowed.append(f"{method} {path}: {answer.status_code} {answer.text[:120]}")
        assert not allowed, "\n".join(allowed)

        assert (await http.get("/v1/videos", headers=key)).status_code == 200
        still = await http.get(f"/v1/projects/{project_id}", headers=owner.headers)
        assert still.json()["name"] == "P"
        assert (await http.get("/v1/credits/balance", headers=owner.headers)).json() == balance
