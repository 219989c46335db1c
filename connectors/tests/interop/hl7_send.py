"""Sends HL7 messages to an MLLP listener with python-hl7's MLLPClient, one connection for all.

Usage: hl7_send.py HOST PORT FILE...

Each FILE holds one message (segments separated by CR, LF or CRLF; sent with CR). Prints one JSON
object per message: what was sent (MSH-10) and the reply as python-hl7 parsed it.
"""

import json
import re
import sys

import hl7
from hl7.client import MLLPClient

SB, EB, CR = b"\x0b", b"\x1c", b"\x0d"


def main():
    host, port, files = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    with MLLPClient(host, port) as client:
        for path in files:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8")
            segments = [s for s in re.split(r"\r\n|\r|\n", text) if s]
            message = hl7.parse("\r".join(segments))
            reply = client.send_message("\r".join(segments) + "\r")
            out = {"file": path, "sent_control_id": str(message["MSH.F10"])}
            if not (reply.startswith(SB) and reply.endswith(EB + CR)):
                out["error"] = "reply is not one complete MLLP block: %r" % reply
            else:
                ack = hl7.parse(reply[1:-2].decode("utf-8"))
                out.update(
                    {
                        "msh9": str(ack.segment("MSH")[9]),
                        "msa1": str(ack["MSA.F1"]),
                        "msa2": str(ack["MSA.F2"]),
                        "segments": [str(s[0]) for s in ack],
                    }
                )
            print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
