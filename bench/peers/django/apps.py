from django.apps import AppConfig


class PeerConfig(AppConfig):
    name = "bench.peers.django"
    label = "peer"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from bench.peers.django.models import record_sign_in

        user_logged_in.connect(record_sign_in, dispatch_uid="peer-signed-in")
