"""The Training Sandbox's request and response bodies: test sets (prompts with expected facts),
runs of an agent version against one, their results, and two runs side by side."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from v100.kit.http import Listing
from v100.kit.text import Line, Paragraphs

__all__ = [
    "CaseComparison",
    "RunComparison",
    "TestCase",
    "TestResultOut",
    "TestRunCreate",
    "TestRunOut",
    "TestRunPage",
    "TestSetCreate",
    "TestSetOut",
    "TestSetPage",
]

Fact = Annotated[Line, Field(min_length=1, max_length=500)]


class TestCase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    __test__ = False

    prompt: Annotated[Paragraphs, Field(min_length=1, max_length=20_000)]
    # Each must appear in the answer, as words, after normalisation (case, accents,
    # punctuation): a check of words, not of meaning.
    expected_facts: Annotated[list[Fact], Field(min_length=1, max_length=20)]


class TestSetCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    __test__ = False

    name: Annotated[Line, Field(min_length=1, max_length=200)]
    cases: Annotated[list[TestCase], Field(min_length=1, max_length=200)]


class TestSetOut(BaseModel):
    __test__ = False

    id: str
    name: str
    cases: list[TestCase]
    created_at: datetime


TestSetPage = Listing[TestSetOut]


class TestRunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    __test__ = False

    test_set_id: Annotated[str, Field(min_length=1, max_length=36)]
    # The agent's version to test (None: its current one).
    version: Annotated[int, Field(ge=1, le=1_000_000)] | None = None


class RunError(BaseModel):
    type: str
    detail: str | None


class TestResultOut(BaseModel):
    __test__ = False

    position: int
    prompt: str
    answer: str
    # "llm", or "no-llm" when no provider was configured (the answer says so).
    answered_by: str
    passed: bool
    found_facts: list[str]
    missing_facts: list[str]
    input_tokens: int
    output_tokens: int


class TestRunOut(BaseModel):
    __test__ = False

    id: str
    agent_id: str
    agent_version: int
    test_set_id: str
    # queued -> running -> completed | failed
    status: Literal["queued", "running", "completed", "failed"]
    cases: int
    passed: int
    failed: int
    error: RunError | None
    input_tokens: int
    output_tokens: int
    credits: int | None
    created_at: datetime
    finished_at: datetime | None
    # On a single run (not in lists): each case's answer and facts, in order.
    results: list[TestResultOut] | None = None


TestRunPage = Listing[TestRunOut]


class CaseComparison(BaseModel):
    position: int
    prompt: str
    expected_facts: list[str]
    a: TestResultOut | None
    b: TestResultOut | None
    # "fixed" (failed in a, passed in b), "broken" (the reverse), "same", or "missing"
    # (a run did not answer it).
    change: Literal["fixed", "broken", "same", "missing"]


class RunComparison(BaseModel):
    a: TestRunOut
    b: TestRunOut
    fixed: int
    broken: int
    cases: list[CaseComparison]
