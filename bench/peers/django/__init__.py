"""The Settings tab as a Django developer would build it: the peer of case 1b.

A plain Django 5.2 project: `django.contrib.auth` users, `django.contrib.sessions` on the
database, sliding by saving the session on every request (`SESSION_SAVE_EVERY_REQUEST`, with a
4-hour cookie), `login_required`, CSRF middleware on, the tab's HTML through Django templates
(cached loader), its passkeys and where its user is signed in read from its own models
(`models.py`), served by gunicorn with one sync worker. `bench.peers.django.run` starts it.
"""
