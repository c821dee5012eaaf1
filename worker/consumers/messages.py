"""What a consumer reads: PGMQ's message rows, and the settings of one batch."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Message(BaseModel):
    """One PGMQ message as ``pgmq_public.read`` returns it (columns of later PGMQ versions are ignored)."""

    model_config = ConfigDict(extra="ignore")

    msg_id: int
    read_ct: int
    enqueued_at: datetime
    vt: datetime
    message: dict[str, Any]


class BatchSettings(BaseModel):
    """How much one call takes: the cron body's fields, each with the queue's default when absent."""

    model_config = ConfigDict(extra="forbid")

    batch_size: int = Field(100, ge=1, le=1000)
    visibility_seconds: int = Field(30, ge=1, le=3600)
    max_reads: int = Field(5, ge=1, le=100)
