"""gunicorn settings for prometheus_client's multiprocess mode (README "Observability").

Use: ``gunicorn wms.wsgi -c python:wms.gunicorn_conf ...`` with
``PROMETHEUS_MULTIPROC_DIR`` set. The master empties the directory at start (files of
a previous run would be summed in) and tells prometheus_client when a worker exits
(its live gauges go; its counters stay in the sums). Without the variable both hooks
do nothing.
"""

import os
import shutil


def on_starting(server):
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory, exist_ok=True)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
