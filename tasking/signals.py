"""Signals of the tasking context (so adapters can react without tasking importing them).

``pick_tasks_released``: sent after the commit that released pick tasks for an
automation system (wave release, re-allocation, a task given back to
automation). kwargs: ``warehouse_id``, ``task_ids``. The automation connector
(``integrations.automation``) listens and dispatches them at once instead of
at its next beat.
"""

from django.dispatch import Signal

pick_tasks_released = Signal()
