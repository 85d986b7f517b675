"""``media.jobs.failing_as``, the retry policy of media jobs: a media error the input causes
settles the resource failed at once with its code, one that a quieter run could pass only on
the last attempt; a ``WorkFailed`` at once; anything else on the last attempt, with the
service's words; until then the error goes back to the queue, which retries the job."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker

from v100 import media
from v100.kit.jobs import JobContext, PermanentJobError
from v100.media.jobs import WorkFailed, failing_as

CODES = media.MediaErrorCodes(
    empty="in-empty", unsupported="in-unsupported", corrupt="in-corrupt",
    too_large="in-too-large", failed="in-failed", timed_out="in-timed-out",
)  # fmt: skip
GAVE_UP = ("work-failed", "The work failed")


class _Recorder:
    """The ``fail`` a service gives: here it keeps what it was asked to settle."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def __call__(self, slug: str, detail: str) -> None:
        self.calls.append((slug, detail))


def _job(attempt: int, max_attempts: int = 3) -> JobContext:
    async def write(_percent: int) -> bool:
        return True

    return JobContext(
        id="job-1", task="sample.work", service="sample", attempt=attempt,
        max_attempts=max_attempts, tenant_id="t1", sessions=async_sessionmaker(),
        write_progress=write, progress_interval=1.0,
    )  # fmt: skip


async def _run(job: JobContext, error: BaseException | None) -> list[tuple[str, str]]:
    recorder = _Recorder()
    async with failing_as(job, recorder, CODES, gave_up=GAVE_UP):
        if error is not None:
            raise error
    return recorder.calls


async def test_work_that_succeeds_settles_nothing() -> None:
    assert await _run(_job(1), None) == []


async def test_an_input_at_fault_fails_at_once_with_its_code() -> None:
    recorder = _Recorder()
    with pytest.raises(PermanentJobError, match="in-corrupt: no moov atom"):
        async with failing_as(_job(1), recorder, CODES, gave_up=GAVE_UP):
            raise media.CorruptMedia("no moov atom")

    assert recorder.calls == [("in-corrupt", "no moov atom")]


@pytest.mark.parametrize(
    "error",
    [
        media.FFmpegTimedOut("took too long", returncode=None, stderr=""),
        media.FFmpegFailed("killed", returncode=-9, stderr=""),
    ],
)
async def test_a_media_error_a_retry_may_pass_is_retried_until_the_last_attempt(
    error: media.MediaError,
) -> None:
    with pytest.raises(type(error)):
        await _run(_job(1), error)

    recorder = _Recorder()
    with pytest.raises(PermanentJobError):
        async with failing_as(_job(3), recorder, CODES, gave_up=GAVE_UP):
            raise error
    assert recorder.calls == [(CODES.code(error), error.reason)]


async def test_the_services_own_failure_ends_the_work_at_once() -> None:
    recorder = _Recorder()

    with pytest.raises(PermanentJobError, match="video-deleted: gone before it ran"):
        async with failing_as(_job(1), recorder, CODES, gave_up=GAVE_UP):
            raise WorkFailed("video-deleted", "gone before it ran")

    assert recorder.calls == [("video-deleted", "gone before it ran")]


async def test_anything_else_fails_the_work_only_on_the_last_attempt() -> None:
    recorder = _Recorder()
    with pytest.raises(RuntimeError):
        async with failing_as(_job(2), recorder, CODES, gave_up=GAVE_UP):
            raise RuntimeError("a backend blinked")
    assert recorder.calls == []

    with pytest.raises(RuntimeError):
        async with failing_as(_job(3), recorder, CODES, gave_up=GAVE_UP):
            raise RuntimeError("a backend blinked")
    assert recorder.calls == [("work-failed", "The work failed after 3 attempts (RuntimeError).")]
