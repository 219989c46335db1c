"""Decodes E1381 frames read from stdin with python-astm's codec and checks their checksums.

Usage: astm_decode.py < frames

The input is a sequence of complete frames (STX FN text ETB|ETX C1 C2 CR LF). Prints a JSON
object: each frame's number, end, checksum as sent, the checksum python-astm computes, and its
records; plus the records of the whole message re-assembled with python-astm's join. python-astm
only logs a bad checksum, so the log is captured and returned too.
"""

import json
import logging
import sys

from astm import codec
from astm.constants import ETB, ETX


class Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def main():
    log = Collect()
    logging.getLogger("astm").addHandler(log)
    data = sys.stdin.buffer.read()
    frames = []
    rest = data
    while rest:
        end = rest.find(b"\r\n")
        if end < 0:
            raise ValueError("trailing bytes after the last frame: %r" % rest)
        frames.append(rest[: end + 2])
        rest = rest[end + 2 :]
    out = {"frames": [], "log": log.messages}
    for frame in frames:
        seq, records, cs = codec.decode_message(frame, "latin-1")
        ended = frame[-5:-4]
        out["frames"].append(
            {
                "seq": seq,
                "end": {ETX: "ETX", ETB: "ETB"}.get(ended, repr(ended)),
                "checksum": cs,
                "computed": codec.make_checksum(frame[1:-4]).decode("ascii"),
                "records": records,
            }
        )
    if codec.is_chunked_message(frames[0]) if frames else False:
        _, records, _ = codec.decode_message(codec.join(frames), "latin-1")
    else:
        records = [r for f in out["frames"] for r in f["records"]]
    out["message"] = records
    print(json.dumps(out))


if __name__ == "__main__":
    main()
