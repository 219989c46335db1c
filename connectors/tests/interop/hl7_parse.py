"""Parses one HL7 message read from stdin with python-hl7 and prints the fields asked for.

Usage: hl7_parse.py KEY... < message

KEY is a python-hl7 accessor such as MSA.F2 or RSP... (SEG[n].Fn.Rn.Cn.Sn, counting from 1).
Prints a JSON object: {"segments": [segment ids], "fields": {KEY: value}}. A message python-hl7
cannot parse makes it exit non-zero with the exception on stderr.
"""

import json
import sys

import hl7


def main():
    text = sys.stdin.buffer.read().decode("utf-8")
    message = hl7.parse(text)
    fields = {key: str(message[key]) for key in sys.argv[1:]}
    print(json.dumps({"segments": [str(s[0]) for s in message], "fields": fields}))


if __name__ == "__main__":
    main()
