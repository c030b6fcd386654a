"""The templates' helpers."""

from __future__ import annotations

from portal.web.templating import whole_usernames


def test_a_username_in_a_message_is_kept_whole_and_the_rest_escaped() -> None:
    kept = whole_usernames("Enter it like 201-wickedsprockets, not <b>201</b>.")

    assert str(kept) == (
        'Enter it like <span class="nowrap">201-wickedsprockets</span>, not &lt;b&gt;201&lt;/b&gt;.'
    )
    assert str(whole_usernames("a well-known word")) == "a well-known word"  # not a username
