"""pg_cron's schedule syntax: five cron fields (or an @-macro) evaluated in UTC, or ``'[1-59] seconds'``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from croniter import croniter

SECONDS = re.compile(r"^\s*(\d+)\s*seconds?\s*$", re.IGNORECASE)


class InvalidSchedule(ValueError):
    """The schedule is not one pg_cron accepts; the message is pg_cron's."""


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule that answers when it is next due."""

    text: str
    interval: timedelta | None

    @classmethod
    def parse(cls, text: str) -> Schedule:
        """Parse ``text`` or raise ``InvalidSchedule`` (as ``cron.schedule`` would)."""
        seconds = SECONDS.match(text)
        if seconds:
            count = int(seconds.group(1))
            if 1 <= count <= 59:
                return cls(text, timedelta(seconds=count))
        elif croniter.is_valid(text.strip()) and (text.strip().startswith("@") or len(text.split()) == 5):
            return cls(text.strip(), None)
        raise InvalidSchedule(f"invalid schedule: {text}")

    def next_after(self, moment: datetime) -> datetime:
        """The first due time strictly after ``moment`` (an aware datetime)."""
        if self.interval is not None:
            return moment + self.interval
        return croniter(self.text, moment).get_next(datetime)
