"""Run one command in a fresh process; print its wall time in ms and its peak resident set size in MB.

    python -S benchmarks/_rusage.py COMMAND [ARG ...]      (used by benchmarks/cold_start.py)

The peak is the child's own `ru_maxrss` from `os.wait4` (KiB on Linux). On Linux a process's maxrss starts at
the RSS high-water mark of the process that spawned it (exec keeps the larger of the two), so a measuring
process that has imported torch would lift every child's figure to its own size. This launcher is a bare
`python -S` with nothing imported, smaller than any Python process it measures, so the figure is the child's.
The command's stdout is discarded; its stderr is this process's. Exit status: the command's.
"""

import os
import sys
import time


def main(command: list[str]) -> int:
    start = time.perf_counter()
    pid = os.posix_spawn(
        command[0], command, os.environ, file_actions=[(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)]
    )
    _, status, usage = os.wait4(pid, 0)
    elapsed = (time.perf_counter() - start) * 1000
    code = os.waitstatus_to_exitcode(status)
    if code == 0:
        print(f"{elapsed} {usage.ru_maxrss / 1024}")
    return code


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1:]))
