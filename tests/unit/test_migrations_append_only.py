"""supabase/migrations/ is append-only: what is committed never changes, and CI says so when it does."""

from __future__ import annotations

import shutil
from pathlib import Path

from jobqueue.migration_lock import LOCK_FILE, main, problems
from jobqueue.provision import MIGRATIONS_DIR


def test_every_migration_is_locked_and_unchanged():
    found, new = problems()
    assert found == []
    assert new == [], f"new migrations {new} are not locked: run `python -m jobqueue.migration_lock` and commit"


def copy(tmp_path: Path) -> tuple[Path, Path]:
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, directory)
    shutil.copy(LOCK_FILE, tmp_path / "migrations.lock")
    return directory, tmp_path / "migrations.lock"


def test_an_edited_migration_is_named_with_what_to_do_instead(tmp_path: Path):
    directory, lock = copy(tmp_path)
    edited = sorted(directory.glob("*.sql"))[3]
    edited.write_text(edited.read_text() + "\n-- one more line\n")
    found, _ = problems(directory, lock)
    assert found == [f"{edited.name} changed after it was committed: applied migrations never change; "
                     "restore it and add a new migration instead (supabase migration new <name>)"]
    assert main(directory, lock) == 1


def test_a_new_migration_is_locked_but_not_one_older_than_the_applied(tmp_path: Path):
    directory, lock = copy(tmp_path)
    (directory / "20991231000000_later.sql").write_text("select 1;\n")
    assert main(directory, lock) == 0
    assert problems(directory, lock) == ([], [])
    (directory / "20000101000000_earlier.sql").write_text("select 1;\n")
    found, new = problems(directory, lock)
    assert new == ["20000101000000_earlier.sql"]
    assert found == ["20000101000000_earlier.sql sorts before 20991231000000_later.sql, which is applied already: "
                     "give it a later timestamp"]


def test_a_deleted_migration_is_named(tmp_path: Path):
    directory, lock = copy(tmp_path)
    gone = sorted(directory.glob("*.sql"))[0]
    gone.unlink()
    found, _ = problems(directory, lock)
    assert found == [f"{gone.name} was applied and is gone: applied migrations are never deleted"]
