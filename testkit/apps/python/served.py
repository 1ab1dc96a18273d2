"""A leaky web app with the leakhound helper, started the way `soak` starts
it: from LEAKHOUND_HELPER_* environment variables. GET /grow leaks 1000
session records; the app listens on LISTEN and prints "listening on ADDR"
once both servers are up (the helper writes its address to
LEAKHOUND_HELPER_ADDR_FILE first).
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "helpers", "python"))
sys.path.insert(0, os.path.join(HERE, "..", "python-plain"))
import leakhound_helper  # noqa: E402
from _serve import serve  # noqa: E402

leakhound_helper.start_from_env()

SESSIONS = []


def grow(query):
    for i in range(1000):
        SESSIONS.append({"user": "user-%d" % i, "blob": bytearray(1500)})
    return str(len(SESSIONS)).encode()


serve("/grow", grow)
