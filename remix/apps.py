from django.apps import AppConfig


class RemixConfig(AppConfig):
    name = "remix"
    verbose_name = "AI remix"

    def ready(self) -> None:
        from socialapp import extensions

        from .extension import RemixExtension
        from .results import connect_file_cleanup

        extensions.register(RemixExtension())
        connect_file_cleanup()
