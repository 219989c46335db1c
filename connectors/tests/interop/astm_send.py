"""Sends ASTM records to an E1381 host with python-astm's Client (its own framing, checksums,
ENQ/EOT handling and event loop).

Usage: astm_send.py HOST PORT [--bulk CHUNK_SIZE] < records.json

records.json is a JSON list of records, each a list of fields (a field may be a list of
components), starting with H and ending with L. By default python-astm sends one record per
frame; with --bulk the whole message is one message cut into frames of at most CHUNK_SIZE bytes
(ETB frames). Prints a JSON object: the bytes sent and received and the ACK/NAK counts.
"""

import json
import sys

from astm.client import Client
from astm.constants import ACK, NAK


class RecordingClient(Client):
    """python-astm's Client, keeping what went over the wire."""

    def __init__(self, *args, **kwargs):
        self.sent = []
        self.received = []
        super().__init__(*args, **kwargs)

    def push(self, data):
        self.sent.append(data)
        return super().push(data)

    def dispatch(self, data):
        self.received.append(data)
        return super().dispatch(data)


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    bulk = "--bulk" in sys.argv
    chunk_size = int(sys.argv[sys.argv.index("--bulk") + 1]) if bulk else None
    records = json.load(sys.stdin)

    def emitter():
        for record in records:
            accepted = yield record
            assert accepted, "record %r was rejected" % (record[0],)

    client = RecordingClient(
        emitter, host=host, port=port, timeout=5, chunk_size=chunk_size, bulk_mode=bulk
    )
    client.run(timeout=0.05)
    print(
        json.dumps(
            {
                "sent": [d.decode("latin-1") for d in client.sent],
                "received": [d.decode("latin-1") for d in client.received],
                "acks": client.received.count(ACK),
                "naks": client.received.count(NAK),
            }
        )
    )


if __name__ == "__main__":
    main()
