"""Module-level functions for the isolation tests (worker processes must import them)."""

import os
import time


def misbehave(chunk):
    out = []
    for item in chunk:
        if item == "abort":
            os.abort()  # what a native reader's failed allocation does
        if item == "hang":
            time.sleep(60)
        if item == "hog":
            bytearray(4 * 1024**3)  # 4 GiB: more than the worker may have
        out.append(item.upper())
    return out


def failed(item, reason):
    return f"{item}:{reason}"


def square_slowly(chunk, pause=0.02):
    time.sleep(pause)
    return [(x * x, os.getpid()) for x in chunk]


def square_and_finish(chunk, pause=0.02):
    """Squares, each with the moment its chunk's work ended (CLOCK_MONOTONIC is shared by
    every process on the machine)."""
    time.sleep(pause)
    done = time.monotonic()
    return [(x * x, done) for x in chunk]
