"""A test of someone else's app, with nothing but the supabase-local plugin's fixtures."""

from supabase_local.testing import as_role


def test_anon_sees_only_published_notes(supabase_anon, supabase_service):
    assert [n["body"] for n in supabase_anon.table("notes").select("body").execute().data] == ["hello"]
    assert len(supabase_service.table("notes").select("id").execute().data) == 2


def test_the_policy_in_sql(supabase_db):
    with as_role(supabase_db, "anon") as cur:
        assert cur.execute("select count(*) as n from public.notes").fetchone()["n"] == 1
