"""The ranking agent's bookkeeping: which users are dirty, with which trigger, and the
freshness metrics it keeps (no broker: the user-state rules run on plain messages)."""
from __future__ import annotations

import numpy as np
from prometheus_client import REGISTRY

from streams.agents.processing import Incoming, UserStateUpdater
from streams.agents.ranking import DirtyUsers, NotifyingUpdater, observe_ages
from streams.ranking.service import Job
from streams.settings import Settings
from streams.state.user import UserParams
from streams.state.weights import EventWeights
from streams.wire import dumps

S = Settings()


def updater() -> UserStateUpdater:
    return UserStateUpdater(S.all_event_types, S.max_message_bytes,
                            UserParams(weights=EventWeights.from_specs(S.all_event_types)),
                            {"i1": np.array([1, 0, 0], np.float32)}.get, lambda: None, 32)


def msg(offset: int, user: str, kafka_ts: float) -> Incoming:
    body = dumps({"event_id": f"e{offset}", "type": "click", "user_id": user, "item_id": "i1",
                  "ts": 1.0 + offset})  # the payload's own ts: an app clock, maybe old
    return Incoming(user.encode(), body, "t.interactions", 0, offset, kafka_ts)


def sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def test_dirty_users_carry_their_newest_trigger_and_its_kafka_timestamp() -> None:
    dirty = DirtyUsers()
    up = NotifyingUpdater(updater(), dirty)
    up.apply_pending([msg(0, "u1", 50.0), msg(1, "u2", 51.0), msg(2, "u1", 52.0)], lambda u: None)
    up.apply_pending([msg(3, "u2", 53.0)], lambda u: None)  # coalesces into u2's pending list
    reqs, users = dirty.take(10)
    assert reqs == [] and not dirty.wake.is_set()
    assert users == [("u1", "e2", None, 52.0), ("u2", "e3", None, 53.0)]


def test_list_ages_are_observed_per_trigger_and_batches_by_size() -> None:
    ages = sample("genre_ranking_list_age_seconds_count"), sample("genre_ranking_list_age_seconds_sum")
    batches = sample("genre_ranking_batch_users_count"), sample("genre_ranking_batch_users_sum")
    jobs = [Job("u1", trigger_ts=99.5), Job("u2", trigger_ts=98.0),
            Job("u3", trigger_ts=100.2),  # another host's clock, a little ahead: counts as 0
            Job("u4", request_id="q1")]  # a request has no trigger: no age
    observe_ages(jobs, 100.0)
    assert sample("genre_ranking_list_age_seconds_count") - ages[0] == 3
    assert abs(sample("genre_ranking_list_age_seconds_sum") - ages[1] - 2.5) < 1e-9
    assert sample("genre_ranking_batch_users_count") - batches[0] == 1
    assert sample("genre_ranking_batch_users_sum") - batches[1] == 4
