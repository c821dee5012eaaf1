"""Keep ``supabase/migrations/`` append-only: ``supabase/migrations.lock`` holds the SHA-256 of every migration
as it was first committed, and CI fails when a locked file changed, vanished, or a new file sorts before one.

The Supabase CLI stores no checksum, so a database cannot tell that an applied file was edited afterwards; the
lock is what catches it, in review and in CI. ``python -m jobqueue.migration_lock`` appends the new files (never
rewrites an entry) and prints any problem found.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from jobqueue.provision import MIGRATIONS_DIR

LOCK_FILE = MIGRATIONS_DIR.parent / "migrations.lock"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_lock(lock_file: Path = LOCK_FILE) -> dict[str, str]:
    """The locked files and their digests, in the order they were locked."""
    if not lock_file.exists():
        return {}
    entries = (line.split() for line in lock_file.read_text(encoding="utf-8").splitlines() if line.strip())
    return {name: digest for digest, name in entries}


def problems(directory: Path = MIGRATIONS_DIR, lock_file: Path = LOCK_FILE) -> tuple[list[str], list[str]]:
    """What breaks append-only (changed, missing, out-of-order files) and which files are new, not yet locked."""
    locked = read_lock(lock_file)
    files = {path.name: path for path in sorted(directory.glob("*.sql"))}
    found = []
    for name, digest in locked.items():
        if name not in files:
            found.append(f"{name} was applied and is gone: applied migrations are never deleted")
        elif _digest(files[name]) != digest:
            found.append(f"{name} changed after it was committed: applied migrations never change; "
                         "restore it and add a new migration instead (supabase migration new <name>)")
    new = [name for name in files if name not in locked]
    newest_locked = max(locked, default="")
    found += [f"{name} sorts before {newest_locked}, which is applied already: give it a later timestamp"
              for name in new if name < newest_locked]
    return found, new


def main(directory: Path = MIGRATIONS_DIR, lock_file: Path = LOCK_FILE) -> int:
    """Lock the new migrations, unless the folder breaks append-only (then say why and change nothing)."""
    found, new = problems(directory, lock_file)
    if found:
        print("\n".join(found), file=sys.stderr)
        return 1
    with lock_file.open("a", encoding="utf-8") as lock:
        for name in new:
            lock.write(f"{_digest(directory / name)}  {name}\n")
    print(f"locked {len(new)} new migration(s)" + (f": {', '.join(new)}" if new else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
