"""Celery tasks of the outbound context: thin, idempotent, ids in."""

import socket

from celery import shared_task

from .models import PlanningTrigger


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def order_planning_task(self, *, warehouse_id: int, planning_group: int, trigger: str = "ACCEPTED"):
    """Plan one partition (warehouse x planning group); a redelivery resumes the same job."""
    from .services import planning_job_run, planning_nudge

    job = planning_job_run(
        warehouse_id=warehouse_id,
        planning_group=planning_group,
        trigger=trigger if trigger in PlanningTrigger.values else PlanningTrigger.MANUAL,
        task_id=self.request.id,
        worker=f"{socket.gethostname()}:{self.request.hostname or ''}",
    )
    if getattr(job, "more", False):
        # The batch limit was reached: let other partitions have a worker, then go on.
        planning_nudge(warehouse_id=warehouse_id, planning_group=planning_group, trigger=trigger)
    return {"job": job.pk, "status": job.status, "lines": job.lines_allocated}


@shared_task
def planning_sweep_task():
    """Beat: plan what nudges missed, re-plan backorders with stock, release due waves."""
    from .services import planning_sweep

    return planning_sweep()


@shared_task
def waves_release_due_task(*, warehouse_id: int):
    from .services import waves_build, waves_release_due

    while waves_build(warehouse_id=warehouse_id):
        pass
    return [str(w.pk) for w in waves_release_due(warehouse_id=warehouse_id)]
