"""Pure state rules (no Faust/Kafka): user state, item statistics, event weights, fold-in."""
from streams.state.codec import from_bytes, to_bytes
from streams.state.decay import DecayedCounts, decay_factor
from streams.state.errors import MissingValue, StateError, UnknownEventType
from streams.state.foldin import CFModel, fold_in
from streams.state.idmap import IdMap
from streams.state.items import ItemStats, ItemStatsParams
from streams.state.ordering import item_hash, sort_scored, top_k_indices
from streams.state.user import (Pending, Recent, UserParams, UserState, apply_event,
                                apply_events, fold_pending, refresh_cf)
from streams.state.vectors import RunningMean
from streams.state.weights import EventWeights, Signal

__all__ = [
    "CFModel", "DecayedCounts", "EventWeights", "IdMap", "ItemStats", "ItemStatsParams",
    "MissingValue", "Pending", "Recent", "RunningMean", "Signal", "StateError",
    "UnknownEventType", "UserParams", "UserState", "apply_event", "apply_events",
    "decay_factor", "fold_in", "fold_pending", "from_bytes", "item_hash", "refresh_cf",
    "sort_scored", "to_bytes", "top_k_indices",
]
