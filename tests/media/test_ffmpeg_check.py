"""Which FFmpeg runs, and the check that it can run our operations: the bundled binary by
default (never an ``ffmpeg`` merely on PATH), ``V100_FFMPEG`` when set; the bundled binary and
Debian 12's 5.1 pass; a binary that is too old, lacks a filter, an encoder or an option, or is
not FFmpeg at all is refused with every reason named. The refused binaries are the real bundled
FFmpeg behind a script that doctors one listing, so the parser reads FFmpeg's own output."""

from __future__ import annotations

import dataclasses
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from v100.media import (
    MIN_FFMPEG_VERSION,
    FFmpegUnusable,
    bundled_ffmpeg,
    check_ffmpeg,
    ffmpeg_path,
    inspect_ffmpeg,
)
from v100.media._requirements import missing_from

DEBIAN_FFMPEG = Path("/usr/bin/ffmpeg")


@pytest.fixture
def fresh_choice(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """``ffmpeg_path()`` chosen again from the environment this test sets, and afterwards."""
    ffmpeg_path.cache_clear()
    yield monkeypatch
    ffmpeg_path.cache_clear()


def _script(directory: Path, name: str, body: str) -> Path:
    path = directory / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _doctored(directory: Path, name: str, body: str) -> Path:
    """The bundled FFmpeg, with ``body`` (shell, ``$FFMPEG`` is the real binary) in front."""
    return _script(directory, name, f'FFMPEG="{bundled_ffmpeg()}"\n{body}')


def test_bundled_binary_has_everything() -> None:
    started = time.perf_counter()
    build = check_ffmpeg(bundled_ffmpeg())
    elapsed = time.perf_counter() - started
    assert build.release is not None
    assert build.release >= MIN_FFMPEG_VERSION
    assert missing_from(build) == []
    # The listings were read, not assumed: one name of each kind, and options per class.
    assert "loudnorm" in build.filters
    assert "libx264" in build.encoders
    assert {"hls", "ipod", "image2"} <= build.muxers
    assert {"mov", "mp4", "matroska", "webm"} <= build.demuxers
    assert {"file", "pipe"} <= build.protocols
    assert {"fps_mode", "progress", "stats"} <= build.options
    assert "linear" in build.class_options("loudnorm")
    assert "var_stream_map" in build.class_options("hls", kind="muxer")
    assert "movflags" in build.class_options("ipod", kind="muxer")
    assert "crf" in build.class_options("libx264")
    # Cached per process: the second look costs nothing.
    assert inspect_ffmpeg(bundled_ffmpeg()) is build
    assert elapsed < 10  # measured ~0.15 s; generous for a loaded machine


def test_default_is_the_bundled_binary_not_the_one_on_path(
    fresh_choice: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _script(tmp_path, "ffmpeg", "echo 'ffmpeg version 5.1.9-0+deb12u1'")
    fresh_choice.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    fresh_choice.delenv("V100_FFMPEG", raising=False)
    assert ffmpeg_path() == bundled_ffmpeg()
    assert "imageio_ffmpeg" in bundled_ffmpeg()


def test_v100_ffmpeg_names_the_binary(fresh_choice: pytest.MonkeyPatch, tmp_path: Path) -> None:
    named = _script(tmp_path, "my-ffmpeg", "exit 0")
    fresh_choice.setenv("V100_FFMPEG", str(named))
    assert ffmpeg_path() == str(named)
    ffmpeg_path.cache_clear()
    # A bare command name is looked up on PATH: naming it is the explicit choice.
    fresh_choice.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    fresh_choice.setenv("V100_FFMPEG", "my-ffmpeg")
    assert ffmpeg_path() == str(named)


@pytest.mark.skipif(not DEBIAN_FFMPEG.exists(), reason="Debian's ffmpeg package not installed")
def test_debian_12_ffmpeg_5_1_is_accepted() -> None:
    build = inspect_ffmpeg(str(DEBIAN_FFMPEG))
    if build.release != (5, 1):
        pytest.skip(f"/usr/bin/ffmpeg is {build.version}, not Debian 12's 5.1")
    assert missing_from(build) == []
    assert check_ffmpeg(str(DEBIAN_FFMPEG)) is build
    # 5.1 has no -display_rotation: the fixtures write rotations another way (testing.py).
    assert "display_rotation" not in build.options


def test_an_old_release_is_refused_with_the_minimum(
    fresh_choice: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    old = _doctored(
        tmp_path,
        "ffmpeg-4.4",
        'if [ "$2" = "-version" ]; then\n'
        "  echo 'ffmpeg version 4.4.2-0ubuntu0.22.04.1 Copyright (c) 2000-2021 the FFmpeg'\n"
        "  echo 'libavcodec     58.134.100 / 58.134.100'\n"
        "  exit 0\n"
        "fi\n"
        'exec "$FFMPEG" "$@"',
    )
    fresh_choice.setenv("V100_FFMPEG", str(old))
    with pytest.raises(FFmpegUnusable) as refused:
        check_ffmpeg()
    assert refused.value.missing == ["version 4.4 (at least 5.1)"]
    message = str(refused.value)
    assert message.startswith(f"V100_FFMPEG ({old}) is FFmpeg 4.4.2-0ubuntu0.22.04.1")
    assert "Missing: version 4.4 (at least 5.1)." in message
    assert "or unset it to use the bundled FFmpeg" in message


def test_missing_filter_encoder_and_options_are_each_named(tmp_path: Path) -> None:
    lacking = _doctored(
        tmp_path,
        "ffmpeg-lacking",
        '"$FFMPEG" "$@" | grep -v -E '
        "'^ [A-Z.|]+ +loudnorm |^ [A-Z.]+ +libx264 |^-fps_mode|^ +-?hls_time |^ +-?pix_th '",
    )
    with pytest.raises(FFmpegUnusable) as refused:
        check_ffmpeg(str(lacking))
    assert refused.value.missing == [
        "option -fps_mode",
        "filter loudnorm",
        "blackdetect option pix_th",
        "encoder libx264",
        "hls option hls_time",
    ]
    assert "Missing: option -fps_mode; filter loudnorm; blackdetect option pix_th;" in str(
        refused.value
    )


def test_a_development_build_is_judged_by_its_libavcodec() -> None:
    build = inspect_ffmpeg(bundled_ffmpeg())
    snapshot = dataclasses.replace(build, version="N-113000-g0123abcd", release=None)
    assert missing_from(dataclasses.replace(snapshot, libavcodec=(59, 37))) == []
    assert missing_from(dataclasses.replace(snapshot, libavcodec=(58, 134))) == [
        "libavcodec 58.134 (at least 59.37, FFmpeg 5.1)"
    ]


def test_something_that_is_not_ffmpeg_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FFmpegUnusable, match="No such file or directory"):
        check_ffmpeg(str(tmp_path / "nothing-here"))
    echo = _script(tmp_path, "echo-ffmpeg", 'echo "$@"')
    with pytest.raises(FFmpegUnusable, match="-version` printed '-hide_banner -version'"):
        check_ffmpeg(str(echo))
    failing = _script(tmp_path, "failing-ffmpeg", "echo 'segfault' >&2; exit 139")
    with pytest.raises(FFmpegUnusable, match="exited 139 segfault"):
        check_ffmpeg(str(failing))


def test_a_hanging_binary_is_not_waited_for_forever(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("v100.media._requirements._TIMEOUT", 0.5)
    hanging = _script(tmp_path, "hanging-ffmpeg", "exec sleep 30")
    started = time.perf_counter()
    with pytest.raises(FFmpegUnusable, match=r"no answer within 0\.5 s"):
        check_ffmpeg(str(hanging))
    assert time.perf_counter() - started < 10
    assert psutil.Process().children(recursive=True) == []
