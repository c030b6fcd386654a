"""Usernames: `extension-tenantcode`, trimmed, tenant code case-insensitive."""

from __future__ import annotations

import pytest

from portal.domain.accounts import Username, parse_username


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("201-wickedsprockets", Username("201", "wickedsprockets")),
        ("  201-WickedSprockets\t", Username("201", "wickedsprockets")),
        ("7-my-tenant-2", Username("7", "my-tenant-2")),
        ("201-ab", Username("201", "ab")),
        ("201", None),
        ("-wickedsprockets", None),
        ("201-", None),
        ("201-w", None),
        ("201-9lives", None),
        ("2o1-wickedsprockets", None),
        ("201 -wickedsprockets", None),
        ("201-wicked sprockets", None),
        ("201-" + "a" * 33, None),
        ("1" * 17 + "-acme", None),
        ("٢٠١-acme", None),
        ("201-acme\x00", None),
        ("x" * 10_000, None),
    ],
)
def test_parse_username(raw: str, expected: Username | None) -> None:
    assert parse_username(raw) == expected
