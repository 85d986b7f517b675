"""One mapping of media failures for every service: which code a failure gives the resource,
and whether a retry could help (the input is at fault, or the run was cut short)."""

from __future__ import annotations

import pytest

from v100 import media

CODES = media.MediaErrorCodes(
    empty="empty",
    unsupported="unsupported",
    corrupt="corrupt",
    too_large="too-large",
    failed="failed",
    timed_out="timed-out",
)


@pytest.mark.parametrize(
    ("error", "code", "permanent"),
    [
        (media.EmptyMedia("zero bytes"), "empty", True),
        (media.UnsupportedMedia("no stream"), "unsupported", True),
        (media.CorruptMedia("cannot decode"), "corrupt", True),
        (media.MediaTooLarge("8K+"), "too-large", True),
        (media.FFmpegFailed("exit 1", returncode=1, stderr=""), "failed", True),
        (media.FFmpegFailed("killed", returncode=-9, stderr=""), "failed", False),
        (media.FFmpegFailed("no code", returncode=None, stderr=""), "failed", False),
        (media.FFmpegTimedOut("too slow", returncode=None, stderr=""), "timed-out", False),
        (media.MediaError("something else"), "corrupt", True),
    ],
)
def test_each_failure_has_its_code_and_permanence(
    error: media.MediaError, code: str, permanent: bool
) -> None:
    assert CODES.code(error) == code
    assert media.is_permanent(error) is permanent


def test_a_service_may_name_failures_of_no_known_kind() -> None:
    codes = media.MediaErrorCodes(
        empty="e", unsupported="u", corrupt="c", too_large="t", failed="f", timed_out="o",
        other="invalid",
    )  # fmt: skip
    assert codes.code(media.MediaError("?")) == "invalid"
    assert codes.code(media.CorruptMedia("?")) == "c"
