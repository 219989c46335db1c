"""What astm_send.py and astm_receive.py share: one Python 3 shim for python-astm's event loop
and a mixin that keeps what went over the wire."""

from astm import asynclib

# astm-2025 1.0.0 ported python-astm to Python 3 but its event loop still calls Python 2's
# `buffer` builtin when it writes (NameError, the channel closes before anything leaves). This
# is the one shim the loop needs; everything on the wire (ENQ/EOT, frames, checksums, record
# order) stays python-astm's own.
if not hasattr(asynclib, "buffer"):
    asynclib.buffer = lambda data, offset=0, size=None: bytes(data[offset : offset + size])


class WireLog:
    """Mixin for python-astm's protocol classes: `sent` and `received` keep every push and every
    dispatched unit (control byte or frame)."""

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
