"""Receives ASTM messages from an E1381 sender with python-astm's RequestHandler (its own ENQ/EOT
state, frame reassembly and checksum check), over a connection this script opens.

Usage: astm_receive.py HOST PORT SECONDS

Connects to HOST:PORT (labwire's listener, labwire being the host that downloads orders), lets
python-astm answer the link and collects the records it dispatches until a message ended with an
L record and EOT, or SECONDS passed. Prints a JSON object: the records, the bytes received and
the answers python-astm sent, and what python-astm logged (a checksum failure among it).
"""

import json
import logging
import socket
import sys
import time

from astm import asynclib
from astm.server import BaseRecordsDispatcher, RequestHandler

from astm_wire import WireLog


class Collect(logging.Handler):
    """python-astm only logs a bad checksum (and ACKs the frame anyway): keep its warnings."""

    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


class Recording(BaseRecordsDispatcher):
    def __init__(self):
        super().__init__()
        self.records = []

    def _default_handler(self, record):
        self.records.append(record)


class RecordingHandler(WireLog, RequestHandler):
    def __init__(self, *args, **kwargs):
        self.eot_after_l = False
        super().__init__(*args, **kwargs)

    def dispatch(self, data):
        result = super().dispatch(data)
        records = self.dispatcher.records
        if data == b"\x04" and records and records[-1][0] == "L":
            self.eot_after_l = True
        return result


def main():
    host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    log = Collect()
    logging.getLogger("astm").addHandler(log)
    sock = socket.create_connection((host, port))
    sock.setblocking(False)
    dispatcher = Recording()
    handler = RecordingHandler(sock, dispatcher, timeout=seconds)
    deadline = time.monotonic() + seconds
    while not handler.eot_after_l and time.monotonic() < deadline and asynclib._SOCKET_MAP:
        asynclib.loop(timeout=0.05, count=1)
    handler.close()
    print(
        json.dumps(
            {
                "records": dispatcher.records,
                "received": [d.decode("latin-1") for d in handler.received],
                "sent": [d.decode("latin-1") for d in handler.sent if d is not None],
                "complete": handler.eot_after_l,
                "log": log.messages,
            }
        )
    )


if __name__ == "__main__":
    main()
