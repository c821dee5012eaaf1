"""The project's migrations as the Supabase CLI's splitter cuts them: nothing of a file is lost between statements."""

from __future__ import annotations

from jobqueue.provision import migrations
from supabase_local.sql_split import split_raw


def test_every_migration_splits_into_statements_that_rejoin_to_the_file():
    for migration in migrations():
        assert "".join(split_raw(migration.text)) == migration.text
        assert all(statement.strip() for statement in migration.statements)
