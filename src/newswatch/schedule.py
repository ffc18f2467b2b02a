"""TEMPORARY minimal schedule decisions (replaced by the schedule branch)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from newswatch.models import FeedSource, FeedState, FetchResult


@dataclass(frozen=True, slots=True)
class PollPolicy:
    base_interval: float = 900.0


@dataclass(frozen=True, slots=True)
class FeedDecider:
    source: FeedSource
    state: FeedState
    policy: PollPolicy
    now: datetime

    def is_due(self) -> bool:
        return self.state.next_poll_at is None or self.state.next_poll_at <= self.now

    def after_fetch(self, result: FetchResult, new_items: int) -> FeedState:
        interval = timedelta(seconds=self.source.interval_seconds or self.policy.base_interval)
        if result.outcome == "error":
            return replace(self.state, consecutive_failures=self.state.consecutive_failures + 1,
                           last_attempt_at=self.now, next_poll_at=self.now + interval)
        return replace(self.state, etag=result.etag or self.state.etag,
                       last_modified=result.last_modified or self.state.last_modified,
                       body_sha256=result.body_sha256 or self.state.body_sha256,
                       consecutive_failures=0, last_attempt_at=self.now, last_success_at=self.now,
                       next_poll_at=self.now + interval)
