"""py-spy over the processes serving a benchmark's load (issue 16: "the hot paths profiled").

`Profiler(pids, out_dir, seconds)` records each process with `py-spy record --format raw` (collapsed stacks) while
the load runs; `summary(path)` reads one file back as the functions with the most samples, inclusive (the function
or anything it called was running) and self (the function itself was running). Raw files open in speedscope or
flamegraph.pl for the whole picture.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

# "function (path/to/file.py:123)" -> "function (file.py)": lines differ between call sites of one function.
_FRAME = re.compile(r"^(?P<fn>.*?) \((?P<file>[^():]*?)(?::\d+)?\)$")


class Profiler:
    def __init__(self, pids: dict[str, int], out_dir: Path, seconds: int, rate: int = 250) -> None:
        self.files = {name: out_dir / f"{name}.txt" for name in pids}
        out_dir.mkdir(parents=True, exist_ok=True)
        # py-spy's wheel installs a binary beside the interpreter, not a module.
        py_spy = str(Path(sys.executable).parent / "py-spy")
        flags = ["--format", "raw", "--rate", str(rate), "--duration", str(seconds), "--nonblocking", "--subprocesses"]
        self._procs = [
            subprocess.Popen(
                [py_spy, "record", *flags, "--pid", str(pid), "--output", str(self.files[name])],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for name, pid in pids.items()
        ]

    def wait(self) -> dict[str, Path]:
        for p in self._procs:
            p.wait(60)
        return {name: f for name, f in self.files.items() if f.exists()}


def _frame(raw: str) -> str:
    m = _FRAME.match(raw.strip())
    if not m:
        return raw.strip()
    return f"{m['fn']} ({Path(m['file']).name})"


def summary(path: Path, top: int = 12) -> tuple[int, list[tuple[str, int]], list[tuple[str, int]]]:
    """(samples, the top inclusive functions, the top self functions) of one raw py-spy file."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_frame(f) for f in stack.split(";") if f]
        # The first frame of each stack is the thread ("process 123:..." / "thread (0x...)"), not a function.
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        for f in set(frames):
            inclusive[f] += n
        own[frames[-1]] += n
    return total, inclusive.most_common(top), own.most_common(top)


def print_summary(files: dict[str, Path], top: int = 12) -> None:
    for name, path in files.items():
        total, incl, own = summary(path, top)
        if not total:
            continue
        print(f"\n  {name}: {total} samples ({path})")
        print("    most time inside (inclusive):")
        for fn, n in incl:
            print(f"      {100 * n / total:5.1f}%  {fn}")
        print("    most time in the function itself (self):")
        for fn, n in own:
            print(f"      {100 * n / total:5.1f}%  {fn}")


if __name__ == "__main__":
    print_summary({Path(a).stem: Path(a) for a in sys.argv[1:]})
