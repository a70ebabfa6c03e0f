"""``manage.py outbox_relay``: the long-running outbox relay, started beside the worker.

Publishes committed outbox events to the event bus (``WMS_EVENT_BUS_URL``;
the log sink when empty) as they are committed. Several may run at once.
SIGTERM/SIGINT finish the current batch and exit.
"""

import logging
import signal
import threading

from django.core.management.base import BaseCommand

from integrations.relay import outbox_relay_run, sink_from_settings
from wms.telemetry import metrics_server_start, telemetry_init

logger = logging.getLogger("integrations.relay")


class Command(BaseCommand):
    help = "Relay committed outbox events to the event bus (runs until stopped)."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=1000)
        parser.add_argument(
            "--poll-interval", type=float, default=0.1, help="Seconds to wait when idle."
        )
        parser.add_argument(
            "--once", action="store_true", help="Publish what is due now, then exit."
        )

    def handle(self, *args, batch_size, poll_interval, once, **options):
        stop = threading.Event()

        def request_stop(signum, frame):
            logger.info("outbox relay: signal %s, stopping after this batch", signum)
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        if not once:  # a long-running relay: traces, and its metrics on WMS_METRICS_PORT
            telemetry_init("relay")
            metrics_server_start()
        sink = sink_from_settings()
        logger.info("outbox relay started (sink: %s, batch %d)", sink.name, batch_size)
        total = outbox_relay_run(
            sink=sink,
            batch_size=batch_size,
            poll_interval=poll_interval,
            stop=stop,
            until_idle=once,
        )
        logger.info("outbox relay stopped after publishing %d events", total)
        if once:
            self.stdout.write(f"published {total} events")
