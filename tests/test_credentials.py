"""Ephemeral SIP/TURN credentials: the exact bytes Kamailio's auth_ephemeral and coturn expect."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from portal.phone.credentials import Credentials, ephemeral_credentials

SECRET = "test-sip-secret"
USER = "201-wickedsprockets"


def openssl_password(secret: str, username: str) -> str:
    """base64(HMAC-SHA1(secret, username)) computed by OpenSSL, independently of our code."""
    if shutil.which("openssl") is None:
        pytest.skip("SKIPPED LOUDLY: the openssl command is missing")
    digest = subprocess.run(
        ["openssl", "dgst", "-sha1", "-hmac", secret, "-binary"],
        input=username.encode(),
        capture_output=True,
        check=True,
    ).stdout
    encoded = subprocess.run(
        ["openssl", "base64", "-A"], input=digest, capture_output=True, check=True
    ).stdout
    return encoded.decode().strip()


def test_a_known_vector_checked_with_openssl() -> None:
    # Literal: `printf '%s' '1700003600:201-wickedsprockets'
    #   | openssl dgst -sha1 -hmac 'test-sip-secret' -binary | base64`
    assert ephemeral_credentials(SECRET, USER, now=1_700_000_000, ttl=3600) == Credentials(
        username="1700003600:201-wickedsprockets",
        password="dDO1H3sVE7ek0LaewibzosSmzIE=",
        expires=1_700_003_600,
    )


@pytest.mark.parametrize(
    ("secret", "user"),
    [("another secret with spaces", "202-othertenant"), ("s", "9-x"), ("ünïcode-secret", USER)],
)
def test_the_password_is_what_openssl_computes(secret: str, user: str) -> None:
    credentials = ephemeral_credentials(secret, user, now=1_800_000_000.9, ttl=60)
    assert credentials.username == f"1800000060:{user}"
    assert credentials.password == openssl_password(secret, credentials.username)


def test_the_expiry_never_exceeds_the_lifetime_asked_for() -> None:
    credentials = ephemeral_credentials(SECRET, USER, now=1000.99, ttl=30)
    assert credentials.expires == 1030
    assert credentials.username.startswith("1030:")


def test_each_extension_and_each_secret_gets_its_own_password() -> None:
    passwords = {
        ephemeral_credentials(SECRET, USER, 1000, 60).password,
        ephemeral_credentials(SECRET, "202-wickedsprockets", 1000, 60).password,
        ephemeral_credentials("another secret", USER, 1000, 60).password,
        ephemeral_credentials(SECRET, USER, 1001, 60).password,
    }
    assert len(passwords) == 4


@pytest.mark.parametrize(
    ("secret", "user", "ttl", "message"),
    [
        ("", USER, 60, "secret is empty"),
        (SECRET, "", 60, "not a SIP user name"),
        (SECRET, "1:201-wickedsprockets", 60, "not a SIP user name"),
        (SECRET, "201 wickedsprockets", 60, "not a SIP user name"),
        (SECRET, USER, 0, "must be positive"),
        (SECRET, USER, -5, "must be positive"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(
    secret: str, user: str, ttl: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ephemeral_credentials(secret, user, now=1000, ttl=ttl)
