from django.apps import AppConfig


class ActiveLearningConfig(AppConfig):
    name = "active_learning"
    verbose_name = "Models, jobs and active learning"

    def ready(self) -> None:
        # The labelling side announces; the learning side listens (labelling never imports it).
        from active_learning import project_settings, receivers  # noqa: F401  (registers on import)
