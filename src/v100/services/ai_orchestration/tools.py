"""An agent's tools, as the model is offered them and as they run (ADR 0046):

- ``knowledge_base_search`` (``{"query"}``): a hybrid search of the agent's knowledge bases in
  rag_engine (``contracts.rag``, scope ``service:rag``), answered as passages numbered for the
  whole answer ([1], [2], ... the same passage keeping its number), each with its document,
  title, heading path and page, for the model to cite.
- ``platform_api`` operations (``videos_list``, ``videos_get``, ``transcripts_list``,
  ``transcripts_get``): read-only calls to the platform's own routes, made with the caller's
  own identity (its tenant, user, key and scopes, signed as the gateway signs them), so the
  owning service refuses what the caller may not read: never more than the caller's scopes.
  Without a caller (a test run's job) they are not offered.

A tool's failure (a refusal, bad arguments, a service down) is the tool's answer, marked as an
error, for the model to read; each call is recorded (``ToolRecord``) on the answer."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from v100.ai.llm import Message, Tool, ToolCall
from v100.contracts.rag import Passage, RagError
from v100.kit.auth import Principal
from v100.kit.errors import UpstreamUnavailable
from v100.services.ai_orchestration.models import AgentVersion
from v100.services.ai_orchestration.resources import Resources

__all__ = ["AgentTools", "ToolRecord"]

# What one tool's answer may carry back to the model (characters).
_RESULT_CHARS = 12_000
_SEARCH = Tool(
    "knowledge_base_search",
    "Search the agent's knowledge bases. Returns passages numbered [1], [2], ...: quote or "
    "paraphrase them and cite each fact with its passage's number in brackets.",
    {
        "type": "object",
        "properties": {"query": {"type": "string", "description": "What to look for."}},
        "required": ["query"],
    },
)
_LIMIT = {"limit": {"type": "integer", "minimum": 1, "maximum": 50}}
# operation -> (tool, service, path template, query parameters passed on)
_PLATFORM: dict[str, tuple[Tool, str, str, tuple[str, ...]]] = {
    "videos.list": (
        Tool("videos_list", "List the tenant's videos, newest first.",
             {"type": "object", "properties": _LIMIT}),
        "video_processing", "/v1/videos", ("limit",),
    ),
    "videos.get": (
        Tool("videos_get", "One video of the tenant, by id.",
             {"type": "object", "properties": {"video_id": {"type": "string"}},
              "required": ["video_id"]}),
        "video_processing", "/v1/videos/{video_id}", (),
    ),
    "transcripts.list": (
        Tool("transcripts_list", "List the tenant's transcripts, newest first.",
             {"type": "object", "properties": _LIMIT}),
        "transcription", "/v1/transcripts", ("limit",),
    ),
    "transcripts.get": (
        Tool("transcripts_get", "One transcript of the tenant, by id, with its text.",
             {"type": "object", "properties": {"transcript_id": {"type": "string"}},
              "required": ["transcript_id"]}),
        "transcription", "/v1/transcripts/{transcript_id}", (),
    ),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ToolRecord:
    """One tool call of an answer, as stored on the message: what the model asked, and what it
    was answered (``result``) or why not (``error``)."""

    name: str
    arguments: str
    result: str | None = None
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class ToolFailed(Exception):
    """A tool's refusal, shown to the model as the tool's answer."""


class AgentTools:
    """The tools of one agent version for one answer (``principal`` None: no caller, as in a
    test run, so no platform calls)."""

    def __init__(
        self, resources: Resources, version: AgentVersion, principal: Principal | None
    ) -> None:
        self.resources = resources
        self.tenant_id = version.tenant_id
        self.knowledge_base_ids = list(version.knowledge_base_ids)
        self.principal = principal
        self.records: list[ToolRecord] = []
        self.passages: list[Passage] = []
        self._numbers: dict[tuple[str, int], int] = {}
        self.tools: list[Tool] = []
        self._platform: dict[str, tuple[str, str, tuple[str, ...]]] = {}
        for spec in version.tools:
            if spec["type"] == "knowledge_base_search" and self.knowledge_base_ids:
                self.tools.append(_SEARCH)
            elif spec["type"] == "platform_api" and principal is not None:
                for operation in spec["operations"]:
                    tool, service, path, params = _PLATFORM[operation]
                    self.tools.append(tool)
                    self._platform[tool.name] = (service, path, params)

    def owns(self, calls: Sequence[ToolCall]) -> bool:
        """Whether every one of ``calls`` is one of these tools (then they run here)."""
        names = {tool.name for tool in self.tools}
        return bool(calls) and all(call.name in names for call in calls)

    async def run(self, call: ToolCall) -> Message:
        """The tool's answer to ``call`` as the next turn (an error the model reads when it
        failed), recorded."""
        try:
            arguments = call.parsed_arguments()
            if call.name == _SEARCH.name:
                result = await self._search(arguments)
            else:
                result = await self._platform_call(call.name, arguments)
        except (ToolFailed, ValueError) as exc:
            self.records.append(ToolRecord(call.name, call.arguments, error=str(exc)))
            return Message.tool_result(call.id, str(exc), is_error=True)
        result = result[:_RESULT_CHARS]
        self.records.append(ToolRecord(call.name, call.arguments, result=result))
        return Message.tool_result(call.id, result)

    async def _search(self, arguments: dict[str, Any]) -> str:
        query = arguments.get("query")
        if not isinstance(query, str) or not query.strip():
            raise ToolFailed("knowledge_base_search needs a non-empty 'query' string.")
        try:
            found = await self.resources.rag.search(
                self.tenant_id, query.strip()[:2000], self.knowledge_base_ids,
                k=self.resources.settings.search_passages,
            )  # fmt: skip
        except RagError as exc:
            raise ToolFailed(f"The search failed: {exc.problem.get('detail', exc)}") from exc
        except (UpstreamUnavailable, httpx.HTTPError) as exc:
            raise ToolFailed("The knowledge bases cannot be searched just now.") from exc
        passages = []
        for passage in found.passages:
            number = self._number(passage)
            passages.append({
                "citation": f"[{number}]", "document_title": passage.document_title,
                "heading_path": passage.heading_path, "page": passage.page, "text": passage.text,
            })  # fmt: skip
        if not passages:
            return json.dumps({"passages": [], "note": "Nothing in the knowledge bases matches."})
        return json.dumps({"passages": passages}, ensure_ascii=False)

    def _number(self, passage: Passage) -> int:
        key = (passage.document_id, passage.position)
        if key not in self._numbers:
            self._numbers[key] = len(self._numbers) + 1
            self.passages.append(passage.model_copy(update={"number": self._numbers[key]}))
        return self._numbers[key]

    async def _platform_call(self, name: str, arguments: dict[str, Any]) -> str:
        if name not in self._platform:
            raise ToolFailed(f"No tool named {name}.")
        assert self.principal is not None
        service, template, passed = self._platform[name]
        try:
            path = template.format(**{k: _segment(v) for k, v in arguments.items()})
        except KeyError as exc:
            raise ToolFailed(f"{name} needs {exc.args[0]!r}.") from None
        params = {k: arguments[k] for k in passed if k in arguments}
        client = self.resources.platform_client(service)
        try:
            response = await client.get(path, principal=self.principal, params=params)
        except (UpstreamUnavailable, httpx.HTTPError) as exc:
            raise ToolFailed(f"{service} did not answer.") from exc
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail") or response.json().get("title")
            except ValueError:
                detail = response.text[:200]
            raise ToolFailed(f"{response.status_code}: {detail}")
        return response.text


def _segment(value: object) -> str:
    """A path segment from the model's argument: an id, never a path of its own."""
    text = str(value)
    if not text or not all(c.isalnum() or c in "-_" for c in text):
        raise ToolFailed(f"{text!r} is not an id.")
    return text
