"""A real SMTP server on a free local port that keeps what it receives (tests only).

Python 3.11's ``smtpd`` (deprecated, removed in 3.12) in a thread: enough to prove
the alert mail leaves through Django's SMTP backend; a newer Python would use
aiosmtpd the same way.
"""

import asyncore
import threading
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import smtpd


class SmtpSink(smtpd.SMTPServer):
    def __init__(self):
        super().__init__(("127.0.0.1", 0), None, decode_data=True)
        self.port = self.socket.getsockname()[1]
        self.messages: list[tuple[list[str], str]] = []
        self._thread = threading.Thread(
            target=asyncore.loop, kwargs={"timeout": 0.05, "map": self._map}, daemon=True
        )

    def process_message(self, peer, mailfrom, rcpttos, data, **kwargs):
        self.messages.append((list(rcpttos), data))

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self.close()
        self._thread.join(timeout=5)
