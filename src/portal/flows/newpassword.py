"""A new password and its confirmation, as the reset form and Change Password both take them."""

from __future__ import annotations

from dataclasses import dataclass

from portal.security.policy import policy_error


@dataclass(frozen=True)
class NewPassword:
    """The outcome of a form that sets a new password: errors by field, or done."""

    errors: dict[str, str]
    invalid_link: bool = False
    stamp: str | None = None
    replaced_hash: str | None = None  # the hash this change replaced (Change Password only)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.invalid_link


def check_new_password(
    new: str, confirm: str, min_length: int, *, username: str, tenant_code: str
) -> dict[str, str]:
    """Field errors for a new password and its confirmation (one policy everywhere)."""
    errors = {}
    if not new:
        errors["new_password"] = "Enter a new password."
    elif reason := policy_error(new, min_length, username=username, tenant_code=tenant_code):
        errors["new_password"] = reason
    if not confirm:
        errors["confirm_password"] = "Enter the new password again."
    elif confirm != new:
        errors["confirm_password"] = "The two passwords do not match."
    return errors
