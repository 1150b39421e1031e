"""What the labelling side announces, for the learning side to act on without being imported here
(labelling never imports learning: see `.importlinter`). Receivers are connected in
active_learning/apps.py."""

from django.dispatch import Signal

# An annotation was saved (sent once its transaction commits). kwargs: project_id, annotation_id.
annotation_submitted = Signal()

# A project's strategy or random fraction changed through its settings. kwargs: project, changes
# (the queue settings that changed, by name): the queue is ranked again with them.
queue_settings_changed = Signal()
