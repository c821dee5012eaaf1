"""A PostgREST-compatible ``/rest/v1`` for the embedded stack, serving what supabase-py sends."""

from __future__ import annotations

from supabase_local.rest.service import RestService

__all__ = ["RestService"]
