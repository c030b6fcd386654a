"""The password policy, one table for every place that sets a password, and the strength hint."""

from __future__ import annotations

import pytest

from portal.security.policy import common_passwords, policy_error, strength

USER = {"username": "201-wickedsprockets", "tenant_code": "wickedsprockets"}


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("Tr0ub4dor", None),
        ("1234567", "at least 8 characters"),
        ("ééééééé", "at least 8 characters"),  # 7 characters (14 bytes): characters count
        ("éééééééé", None),
        ("🔒🔒🔒🔒🔒🔒🔒🔒", None),
        ("       x", None),  # spaces count, nothing is trimmed
        ("x" * 128, None),
        ("x" * 1024, None),
        ("x" * 1025, "at most 1,024 characters"),
        ("pass\x00wordlong", "NUL"),
        ("password", "most common passwords"),
        ("PassWord1", "most common passwords"),  # case does not hide it
        ("iloveyou", "most common passwords"),
        ("qwertyuiop", "most common passwords"),
        ("my-201-wickedsprockets-pw", "cannot contain your username"),
        ("xx201-WickedSprocketsxx", "cannot contain your username"),
        ("wickedsprockets!", "cannot contain your company code (wickedsprockets)"),
        ("onlylowercaseletters", None),  # no composition rules
        ("201-something-else", None),
    ],
)
def test_policy_table(password: str, reason: str | None) -> None:
    error = policy_error(password, 8, **USER)
    if reason is None:
        assert error is None
    else:
        assert error is not None
        assert reason in error


def test_the_common_list_has_at_least_ten_thousand_entries() -> None:
    passwords = common_passwords()
    assert len(passwords) >= 10_000
    assert "123456" in passwords


def test_minimum_length_follows_the_setting() -> None:
    assert policy_error("abcdefghijkl", 14) == "Use at least 14 characters."
    assert policy_error("abcdefghijklmn", 14) is None


@pytest.mark.parametrize(
    ("password", "level"),
    [
        ("password", "weak"),  # refused: the hint says why
        ("abcdefgh", "weak"),  # common
        ("plumtrees", "weak"),  # short and plain
        ("Abcdef1!", "fair"),  # short but varied
        ("abcdefghijkl", "fair"),  # long but plain
        ("Abcdefgh1234", "strong"),
        ("correct horse battery staple", "strong"),
    ],
)
def test_strength_levels(password: str, level: str) -> None:
    assert strength(password, 8, **USER).level == level


def test_strength_encourages_a_mix_without_demanding_it() -> None:
    hint = strength("plumtrees", 8, **USER)
    assert hint.level == "weak"
    assert "upper- and lower-case letters, numbers and symbols" in hint.reason
    assert policy_error("plumtrees", 8, **USER) is None  # accepted all the same
