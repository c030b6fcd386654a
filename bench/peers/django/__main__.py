"""`python -m bench.peers.django USERNAME < password`: migrate the peer's database, add a user.

Run in a process of its own (Django's settings are global to a process), with the environment
`bench.peers.django.run` sets.
"""

from __future__ import annotations

import os
import sys

import django
from django.core.management import call_command


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.peers.django.settings")
    django.setup()
    from django.contrib.auth.models import User

    call_command("migrate", verbosity=0, interactive=False)
    username = argv[0]
    password = sys.stdin.readline().rstrip("\n")
    User.objects.create_user(username, password=password, first_name="Bench")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
