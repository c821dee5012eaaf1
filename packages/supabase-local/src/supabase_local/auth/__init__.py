"""Supabase Auth (GoTrue) for the embedded stack: ``/auth/v1`` for what the official clients call."""

from __future__ import annotations

from supabase_local.auth.service import AuthService

__all__ = ["AuthService"]
