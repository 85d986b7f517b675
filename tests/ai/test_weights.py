"""Joining the Whisper base weights from their two packages: once, atomically, and again when
the file on disk is short or damaged."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from v100.ai.asr import locate_whisper_base, whisper_base_dir


@pytest.fixture(scope="module")
def joined(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return whisper_base_dir(tmp_path_factory.mktemp("cache"))


def test_the_join_is_the_two_parts(joined: Path) -> None:
    weights = locate_whisper_base()
    model = joined / "model.bin"
    assert model.stat().st_size == weights.size
    digest = hashlib.sha256()
    for part, expected in zip(weights.parts, weights.part_sha256, strict=True):
        assert hashlib.sha256(part.read_bytes()).hexdigest() == expected
        digest.update(part.read_bytes())
    assert hashlib.sha256(model.read_bytes()).hexdigest() == digest.hexdigest()
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        assert (joined / name).is_file()
    # No temp file is left behind.
    assert not [p for p in joined.iterdir() if p.name.startswith(".")]


def test_second_call_reuses_the_file(joined: Path) -> None:
    before = (joined / "model.bin").stat().st_mtime_ns
    assert whisper_base_dir(joined.parent) == joined
    assert (joined / "model.bin").stat().st_mtime_ns == before


def test_a_half_written_file_is_joined_again(tmp_path: Path) -> None:
    directory = whisper_base_dir(tmp_path)
    model = directory / "model.bin"
    size = model.stat().st_size
    with model.open("r+b") as handle:
        handle.truncate(size // 2)
    assert whisper_base_dir(tmp_path) == directory
    assert model.stat().st_size == size


def test_a_join_without_its_marker_is_not_trusted(tmp_path: Path) -> None:
    directory = whisper_base_dir(tmp_path)
    (directory / "model.bin.sha256").unlink()
    before = (directory / "model.bin").stat().st_mtime_ns
    whisper_base_dir(tmp_path)
    assert (directory / "model.bin.sha256").is_file()
    assert (directory / "model.bin").stat().st_mtime_ns != before
