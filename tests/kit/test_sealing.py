"""Sealed secrets: AES-GCM under a key derived from a platform secret, bound to a context,
opened under the current or a retired key, and refused when tampered, moved or unknown."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from v100.kit.sealing import Sealer, SealError
from v100.kit.settings import PlatformSettings


def test_a_sealed_value_opens_in_its_context_and_hides_the_plaintext() -> None:
    sealer = Sealer("first-secret-0123456789")
    sealed = sealer.seal("pat-na1-secret-token", context="crm:c1:access")
    assert "pat-na1" not in sealed
    assert sealed.startswith(f"v1.{sealer.key_id}.")
    assert sealer.open(sealed, context="crm:c1:access") == "pat-na1-secret-token"
    # Two seals of one value differ (a fresh nonce each time).
    assert sealer.seal("x", context="c") != sealer.seal("x", context="c")


def test_another_context_or_a_flipped_bit_does_not_open() -> None:
    sealer = Sealer("first-secret-0123456789")
    sealed = sealer.seal("token", context="crm:c1:access")
    with pytest.raises(SealError, match="another context"):
        sealer.open(sealed, context="crm:c2:access")
    head, data = sealed.rsplit(".", 1)
    flipped = data[:-2] + ("A" if data[-2] != "A" else "B") + data[-1]
    with pytest.raises(SealError):
        sealer.open(f"{head}.{flipped}", context="crm:c1:access")
    for junk in ("", "plain", "v2.abc.def", "v1..", f"v1.{sealer.key_id}.!!!!"):
        with pytest.raises(SealError):
            sealer.open(junk, context="crm:c1:access")


def test_rotation_opens_old_values_under_a_retired_key_and_seals_under_the_new() -> None:
    old = Sealer("old-secret-0123456789")
    sealed_before = old.seal("refresh-1", context="r")
    rotated = Sealer("new-secret-0123456789", retired=["old-secret-0123456789"])
    assert rotated.key_id != old.key_id
    assert rotated.open(sealed_before, context="r") == "refresh-1"
    assert rotated.stale(sealed_before)
    resealed = rotated.seal("refresh-1", context="r")
    assert not rotated.stale(resealed)
    # Without the retired key, the old value is named as sealed under an unknown key.
    with pytest.raises(SealError, match="does not hold"):
        Sealer("new-secret-0123456789").open(sealed_before, context="r")
    # The old key cannot open what the new one sealed.
    with pytest.raises(SealError):
        old.open(resealed, context="r")


def test_from_settings_uses_the_sealing_key_or_derives_one(tmp_path: Path) -> None:
    derived = PlatformSettings(var_dir=tmp_path, internal_token_secret=SecretStr("i" * 48))
    again = PlatformSettings(var_dir=tmp_path, internal_token_secret=SecretStr("i" * 48))
    sealed = Sealer.from_settings(derived).seal("t", context="c")
    assert Sealer.from_settings(again).open(sealed, context="c") == "t"
    # The derived key is not the internal token secret itself.
    assert Sealer.from_settings(derived).key_id != Sealer("i" * 48).key_id

    configured = PlatformSettings(
        var_dir=tmp_path, internal_token_secret=SecretStr("i" * 48),
        sealing_key=SecretStr("s" * 40), sealing_retired_keys=(SecretStr("derived:" + "i" * 48),),
    )  # fmt: skip
    sealer = Sealer.from_settings(configured)
    assert sealer.key_id == Sealer("s" * 40).key_id
    assert sealer.open(sealed, context="c") == "t"


def test_the_environment_names_the_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("V100_SEALING_KEY", "env-secret-0123456789")
    monkeypatch.setenv("V100_SEALING_RETIRED_KEYS", '["older-0123456789"]')
    sealer = Sealer.from_settings(PlatformSettings(var_dir=tmp_path))
    assert sealer.key_id == Sealer("env-secret-0123456789").key_id
    assert sealer.open(Sealer("older-0123456789").seal("v", context="c"), context="c") == "v"
