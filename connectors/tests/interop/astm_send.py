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

from astm_wire import WireLog



class RecordType(bytes):
    """The record type field (`H`, `P`, ...): bytes for python-astm's codec, which on Python 3
    only encodes bytes fields (a str field recurses forever, str being Iterable), and equal to
    the str for its Client, which compares record types with str (`'H'`, `record[0] == 'L'`)."""

    def __eq__(self, other):
        if isinstance(other, str):
            return self.decode("latin-1") == other
        return bytes.__eq__(self, other)

    def __hash__(self):
        return hash(self.decode("latin-1"))


def to_python_astm(value):
    """A JSON field as python-astm takes it on Python 3 (bytes, None, or lists of them)."""
    if isinstance(value, str):
        return value.encode("latin-1")
    if isinstance(value, list):
        return [to_python_astm(v) for v in value]
    return value


class RecordingClient(WireLog, Client):
    """python-astm's Client, keeping what went over the wire."""


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    bulk = "--bulk" in sys.argv
    chunk_size = int(sys.argv[sys.argv.index("--bulk") + 1]) if bulk else None
    records = [
        [RecordType(r[0].encode("latin-1"))] + [to_python_astm(f) for f in r[1:]]
        for r in json.load(sys.stdin)
    ]

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
