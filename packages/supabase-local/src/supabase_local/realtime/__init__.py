"""Supabase-compatible Realtime: Phoenix channels with postgres_changes, broadcast and presence."""

from __future__ import annotations

from supabase_local.realtime.service import RealtimeService, create

__all__ = ["RealtimeService", "create"]
