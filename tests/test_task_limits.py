"""Every Celery task of the portal is bounded in time, and those that call OME retry the same way."""

from ome.client import OmeUnavailable
from ome.tasks import OmeCallTask
from portal.celery import app


def _project_tasks():
    app.loader.import_default_modules()
    return {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}


def test_every_task_has_a_soft_and_a_hard_time_limit():
    tasks = _project_tasks()
    assert len(tasks) >= 8, sorted(tasks)
    for name, task in tasks.items():
        soft = task.soft_time_limit or app.conf.task_soft_time_limit
        hard = task.time_limit or app.conf.task_time_limit
        assert soft and hard and soft < hard, f"{name} can run forever (soft {soft}, hard {hard})"


def test_tasks_that_call_ome_retry_with_celerys_backoff_and_record_their_failure(settings):
    ome_tasks = {name for name, task in _project_tasks().items() if isinstance(task, OmeCallTask)}
    assert ome_tasks == {
        "broadcasts.tasks.start_push_task",
        "broadcasts.tasks.stop_push_task",
        "recordings.tasks.start_recording_task",
        "recordings.tasks.stop_recording_task",
    }
    for name in ome_tasks:
        task = app.tasks[name]
        assert task.autoretry_for == (OmeUnavailable,) and task.retry_jitter and task.acks_late
        assert task.max_retries == settings.OME_RETRY_MAX_ATTEMPTS - 1
        assert type(task).record_failure is not OmeCallTask.record_failure, f"{name} records no failure"
