"""The top frames of a ``py-spy record --format raw`` profile: by self time and by inclusive time.

    python bench/profile_top.py PROFILE.txt [--top 25] [--under FRAME]

``--under`` keeps only the stacks passing through a frame whose text contains FRAME (e.g. ``RestEndpoint``).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_LOCATION = re.compile(r"\((?:[^)]*/)?(?:site-packages/|python3\.\d+/)?([^)]*)\)")


def short(frame: str) -> str:
    """``function (file.py:line)`` without the directories."""
    return _LOCATION.sub(r"(\1)", frame)


def load(path: Path, under: str | None) -> tuple[Counter[str], Counter[str], int]:
    """Self and inclusive sample counts by frame, and the number of samples."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [short(frame) for frame in stack.split(";")]
        if under is not None and not any(under in frame for frame in frames):
            continue
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
    return own, inclusive, total


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--under", help="only stacks through a frame containing this text")
    args = parser.parse_args(argv)
    own, inclusive, total = load(args.profile, args.under)
    print(f"{args.profile.name}: {total} samples")
    for title, counts in (("self", own), ("inclusive", inclusive)):
        print(f"-- {title}")
        for frame, count in counts.most_common(args.top):
            print(f"{100 * count / max(total, 1):5.1f}%  {frame}")


if __name__ == "__main__":
    main()
