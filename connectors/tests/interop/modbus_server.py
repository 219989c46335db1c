"""A Modbus TCP server played by pymodbus, the third-party peer for labwire's Modbus connector.

Reads a JSON device image on stdin, serves it on 127.0.0.1 on a port the OS picks, prints
`PORT <n>` on stdout once listening, and serves until stdin is closed.

Image: {"units": {"<unit id>": {"input": {"<address>": ["<type>", <value>], ...},
                                "holding": {...}, "coil": {"<address>": 0|1}, "discrete": {...}}}}
Register types are encoded here with Python's struct module (big-endian registers), so the
encoding is independent of labwire's decoder: u16, i16, u32, i32, f32 (word order ABCD),
u32_cdab, f32_cdab (least significant register first).
"""

import asyncio
import json
import struct
import sys

from pymodbus.datastore import (
    ModbusSequentialDataBlock,
    ModbusServerContext,
    ModbusSlaveContext,
)
from pymodbus.server import ModbusTcpServer

FORMATS = {"u16": ">H", "i16": ">h", "u32": ">I", "i32": ">i", "f32": ">f"}
SIZE = 1000


def registers(kind, value):
    """The registers (16-bit words, first one first on the wire) for one typed value."""
    swap = kind.endswith("_cdab")
    base = kind[: -len("_cdab")] if swap else kind
    raw = struct.pack(FORMATS[base], value)
    words = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    return list(reversed(words)) if swap else words


def block(table, bits):
    # pymodbus' slave context adds 1 to every request address: index 1 holds address 0.
    values = [0] * (SIZE + 1)
    for address, spec in table.items():
        address = int(address)
        if bits:
            values[address + 1] = 1 if spec else 0
        else:
            for i, word in enumerate(registers(spec[0], spec[1])):
                values[address + 1 + i] = word
    return ModbusSequentialDataBlock(0, values)


async def main():
    image = json.loads(sys.stdin.readline())
    slaves = {}
    for unit, tables in image["units"].items():
        slaves[int(unit)] = ModbusSlaveContext(
            ir=block(tables.get("input", {}), False),
            hr=block(tables.get("holding", {}), False),
            co=block(tables.get("coil", {}), True),
            di=block(tables.get("discrete", {}), True),
        )
    server = ModbusTcpServer(ModbusServerContext(slaves=slaves, single=False), address=("127.0.0.1", 0))
    serving = asyncio.create_task(server.serve_forever())
    for _ in range(500):
        await asyncio.sleep(0.01)
        listener = getattr(server, "transport", None)
        if listener is not None and getattr(listener, "sockets", None):
            print("PORT", listener.sockets[0].getsockname()[1], flush=True)
            break
    else:
        sys.exit("pymodbus server did not start listening")
    # Serve until the test closes stdin.
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await server.shutdown()
    serving.cancel()


asyncio.run(main())
