"""bot.secretbox: Fernet encryption of stored secrets with CAMPAIGN_SECRET_KEY."""

from __future__ import annotations

import pytest

from bot.secretbox import CannotDecrypt, MissingKey, SecretBox, from_env, generate_key

SECRET = "rt_Đây-là-một-refresh-token-rất-bí-mật-0123456789"


def test_round_trip_with_a_generated_key() -> None:
    box = SecretBox(generate_key())
    ciphertext = box.encrypt(SECRET)
    assert SECRET not in ciphertext
    assert "bí-mật" not in ciphertext
    assert box.decrypt(ciphertext) == SECRET
    assert box.encrypt(SECRET) != ciphertext  # random IV: equal secrets do not give equal columns


def test_a_passphrase_is_stretched_to_a_key() -> None:
    box = SecretBox("một câu mật khẩu đủ dài của liên đoàn")
    assert SecretBox("một câu mật khẩu đủ dài của liên đoàn").decrypt(box.encrypt(SECRET)) == SECRET


@pytest.mark.parametrize("key", ["", "   ", "ngan-qua"])
def test_missing_or_short_key_is_refused_in_vietnamese(key: str) -> None:
    with pytest.raises(MissingKey) as info:
        SecretBox(key)
    assert "CAMPAIGN_SECRET_KEY" in info.value.message
    assert "generate_key" in info.value.fix
    if key.strip():
        assert key not in str(info.value)


def test_from_env_reads_campaign_secret_key() -> None:
    key = generate_key()
    assert from_env({"CAMPAIGN_SECRET_KEY": key}).decrypt(SecretBox(key).encrypt("x")) == "x"
    with pytest.raises(MissingKey):
        from_env({})


def test_wrong_key_or_tampered_text_is_detected_without_leaking() -> None:
    ciphertext = SecretBox(generate_key()).encrypt(SECRET)
    with pytest.raises(CannotDecrypt) as info:
        SecretBox(generate_key()).decrypt(ciphertext)
    assert SECRET not in str(info.value) and ciphertext not in str(info.value)
    assert "CAMPAIGN_SECRET_KEY" in info.value.message
    with pytest.raises(CannotDecrypt):
        SecretBox(generate_key()).decrypt(ciphertext[:-4] + "AAAA")


def test_key_rotation_old_keys_still_decrypt_and_rotate_moves_to_the_new_one() -> None:
    old, new = generate_key(), generate_key()
    ciphertext = SecretBox(old).encrypt(SECRET)
    both = SecretBox(f"{new},{old}")
    assert both.decrypt(ciphertext) == SECRET
    rotated = both.rotate(ciphertext)
    assert SecretBox(new).decrypt(rotated) == SECRET
    with pytest.raises(CannotDecrypt):
        SecretBox(old).decrypt(rotated)


def test_repr_never_shows_the_key() -> None:
    key = generate_key()
    box = SecretBox(key)
    assert key not in repr(box) and key not in str(box)
