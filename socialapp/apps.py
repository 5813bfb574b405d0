from django.apps import AppConfig


class SocialappConfig(AppConfig):
    name = "socialapp"
    verbose_name = "Social"

    def ready(self) -> None:
        from . import auth  # noqa: F401  (registers the API token's OpenAPI description)
        from .services import connect_file_cleanup

        connect_file_cleanup()
