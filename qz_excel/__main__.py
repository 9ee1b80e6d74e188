"""`qz` and `python -m qz_excel`. Ctrl-C or SIGTERM while the program is still starting
(importing pandas takes most of a second) ends as quietly as one during a run."""

import signal
import sys


def _interrupt(_signum, _frame):
    raise KeyboardInterrupt


def main() -> None:
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, _interrupt)  # cleaned up like Ctrl-C, from the start
    try:
        from qz_excel.cli.commands import run
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # stopping already
        sys.stderr.write("\n已中断：程序还没有开始工作，没有写任何文件。\n")
        sys.exit(130)
    run()


if __name__ == "__main__":  # guarded: worker processes may import this module
    main()
