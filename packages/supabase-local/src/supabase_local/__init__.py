"""An embedded, Supabase-compatible stack: PostgreSQL, PGMQ, pg_net, pg_cron, REST, Auth and Realtime.

It is the platform the project runs on when no hosted Supabase project is configured; it knows nothing
of jobs. Start it with ``python -m supabase_local start``.
"""

from __future__ import annotations

from supabase_local.state import StackState, load_state, state_dir

__all__ = ["StackState", "load_state", "state_dir"]
