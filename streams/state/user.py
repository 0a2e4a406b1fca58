"""Per-user state and its update rule ``apply_event(state, event, vector, params) -> state``.

The state is small and self-contained (wire ids, not worker-local ints) so it can live in a
Faust table and move between workers on rebalance. Every list is bounded (see UserParams).
The rules never mutate their input: they return a new UserState sharing unchanged parts.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np

from streams.state.decay import decay_factor
from streams.state.errors import StateError
from streams.state.foldin import CFModel, fold_in
from streams.state.ordering import item_hash
from streams.state.seen import SeenSet, fingerprint, item_fingerprint
from streams.state.weights import EventWeights

DAY = 86_400.0


class Recent(NamedTuple):
    item_id: str
    type: str
    ts: float
    weight: float  # the content (signed) weight of the event


class Pending(NamedTuple):
    item_id: str
    weight: float
    ts: float


@dataclass(frozen=True)
class UserParams:
    """Bounds and decay of the user state.

    ``seen_max`` bounds the filter set: the last ``seen_max`` distinct items (1,000 covers
    99.9 % of MovieLens users) and every positive are always in it; older ones may be
    recommended again. It holds at most ``2·seen_max + positives_max`` fingerprints
    (~13 bits each serialised, see ``streams.state.seen``). ``positives_max`` bounds both
    the fold-in solve and the session history.
    """

    weights: EventWeights = field(default_factory=EventWeights)
    content_half_life: float = 30 * DAY
    recent_max: int = 20
    positives_max: int = 50
    seen_max: int = 1000
    pending_max: int = 8
    normalize_items: bool = True

    def __post_init__(self) -> None:
        if min(self.recent_max, self.positives_max, self.pending_max) < 1:
            raise StateError("recent_max, positives_max and pending_max must be >= 1")
        if self.seen_max < self.positives_max:
            raise StateError(f"seen_max ({self.seen_max}) must be >= positives_max ({self.positives_max})")


@dataclass(frozen=True, eq=False)
class UserState:
    user_id: str
    content: np.ndarray | None = None  # float32, decayed Σ w·x
    content_mass: float = 0.0  # decayed Σ w, to centre the query on the item mean
    content_ts: float = 0.0
    cf: np.ndarray | None = None
    cf_version: str | None = None  # model version ``cf`` was solved against; None = stale
    recent: tuple[Recent, ...] = ()  # oldest first
    positives: tuple[tuple[str, float], ...] = ()  # unique items, oldest first
    seen: SeenSet = field(default_factory=SeenSet)  # fingerprints of the items interacted with
    pending: tuple[Pending, ...] = ()
    n_events: int = 0
    last_ts: float = 0.0

    def has_seen(self, item_id: str) -> bool:
        return self.seen.has(item_id)

    def recent_positives(self, n: int) -> list[tuple[str, float]]:
        """The last ``n`` positives, newest first (the session history)."""
        return list(reversed(self.positives[-n:]))


def _unit(x: np.ndarray, normalize: bool) -> np.ndarray | None:
    x = np.asarray(x, dtype=np.float32).reshape(-1)
    if not normalize:
        return x
    n = math.sqrt(float(np.dot(x, x)))
    return x / n if n > 0 and math.isfinite(n) else None


Content = tuple[np.ndarray | None, float, float]  # (vector, mass, last ts)


def _content(c: Content, vec: np.ndarray, w: float, t: float, normalize: bool,
             half_life: float) -> Content:
    """Fold one weighted item vector into the decayed interest sum (out-of-order safe)."""
    x = _unit(vec, normalize)
    v, mass, ts = c
    if x is None or w == 0.0 or (v is not None and v.shape != x.shape):
        return c  # a vector of another model is ignored rather than corrupting the sum
    if v is None:
        return w * x, w, t
    if t >= ts:
        d = decay_factor(t - ts, half_life)
        return v * d + w * x, mass * d + w, t
    d = decay_factor(ts - t, half_life)
    return v + (w * d) * x, mass + w * d, ts


def add_content(s: UserState, vec: np.ndarray, w: float, t: float, normalize: bool,
                half_life: float) -> UserState:
    v, mass, ts = _content((s.content, s.content_mass, s.content_ts), vec, w, t, normalize, half_life)
    return replace(s, content=v, content_mass=mass, content_ts=ts)


def _positives(pos: tuple[tuple[str, float], ...], item: str, w: float, negative: bool,
               cap: int, maybe_present: bool) -> tuple[tuple[str, float], ...] | None:
    """New positives list, or None when unchanged. Positives ⊆ seen, so unseen → absent."""
    old = next((pw for pi, pw in pos if pi == item), None) if maybe_present else None
    if negative:
        return None if old is None else tuple(p for p in pos if p[0] != item)
    if w <= 0:
        return None
    rest = pos if old is None else tuple(p for p in pos if p[0] != item)
    return (rest + ((item, max(w, old or 0.0)),))[-cap:]


def _pinned(positives: tuple[tuple[str, float], ...]) -> Callable[[], list[int]]:
    """The positives' fingerprints, computed only when the seen set rotates."""
    return lambda: [item_fingerprint(i) for i, _ in positives]


def apply_event(state: UserState, event: Any, vector: np.ndarray | None, params: UserParams,
                cf: CFModel | None = None) -> UserState:
    """One interaction → new state. ``vector`` is the item's content vector if known yet.

    With ``cf`` the collaborative vector is re-solved now; without, it is marked stale and
    :func:`refresh_cf` solves it lazily (the batch path does that once per batch).
    Raises :class:`~streams.state.errors.StateError` for unknown types / missing values.
    """
    sig = params.weights.signal(event.type, event.value)
    s, item, t = state, event.item_id, float(event.ts)
    content: Content = (s.content, s.content_mass, s.content_ts)
    pending = s.pending
    if sig.content != 0.0:
        if vector is not None:
            content = _content(content, vector, sig.content, t, params.normalize_items,
                               params.content_half_life)
        else:
            pending = (pending + (Pending(item, sig.content, t),))[-params.pending_max:]
    fp = fingerprint(item_hash(item))
    pos = _positives(s.positives, item, sig.positive, params.weights.is_negative(event.type),
                     params.positives_max, fp in s.seen)
    positives = s.positives if pos is None else pos
    new = UserState(
        s.user_id, content[0], content[1], content[2], s.cf,
        s.cf_version if pos is None else None,
        (s.recent + (Recent(item, event.type, t, sig.content),))[-params.recent_max:],
        positives, s.seen.added(fp, params.seen_max, _pinned(positives)), pending,
        s.n_events + 1, max(s.last_ts, t),
    )
    return refresh_cf(new, cf) if cf is not None else new


def apply_events(state: UserState, events: Iterable[Any], vectors: Sequence[np.ndarray | None],
                 params: UserParams, cf: CFModel | None = None) -> UserState:
    """Several events of one user in order; the CF solve runs once at the end.

    The same state as folding :func:`apply_event` over the events (a unit test checks it),
    but the seen set and the bounded lists are copied once per call, not once per event.
    """
    s = state
    weights, normalize, half_life = params.weights, params.normalize_items, params.content_half_life
    content: Content = (s.content, s.content_mass, s.content_ts)
    pending, recent, seen = list(s.pending), list(s.recent), s.seen.updating()
    positives, cf_version, n, last = s.positives, s.cf_version, s.n_events, s.last_ts
    for ev, vec in zip(events, vectors):
        sig = weights.signal(ev.type, ev.value)
        item, t = ev.item_id, float(ev.ts)
        if sig.content != 0.0:
            if vec is not None:
                content = _content(content, vec, sig.content, t, normalize, half_life)
            else:
                pending.append(Pending(item, sig.content, t))
                if len(pending) > params.pending_max:
                    del pending[: len(pending) - params.pending_max]
        fp = fingerprint(item_hash(item))
        pos = _positives(positives, item, sig.positive, weights.is_negative(ev.type),
                         params.positives_max, fp in seen)
        if pos is not None:
            positives, cf_version = pos, None
        recent.append(Recent(item, ev.type, t, sig.content))
        if len(recent) > params.recent_max:
            del recent[: len(recent) - params.recent_max]
        seen.add(fp, params.seen_max, _pinned(positives))
        n, last = n + 1, max(last, t)
    if n == s.n_events:
        new = s
    else:
        new = UserState(s.user_id, content[0], content[1], content[2], s.cf, cf_version,
                        tuple(recent), positives, seen.done(), tuple(pending), n, last)
    return refresh_cf(new, cf) if cf is not None else new


def refresh_cf(state: UserState, cf: CFModel) -> UserState:
    """Re-solve the CF vector if positives changed or the model version moved."""
    if state.cf_version == cf.version:
        return state
    items = [i for i, _ in state.positives]
    u = fold_in(cf, items, [w for _, w in state.positives])
    return replace(state, cf=u, cf_version=cf.version)


def fold_pending(state: UserState, lookup: Callable[[str], np.ndarray | None],
                 params: UserParams) -> UserState:
    """Fold in pending items whose vector has arrived since (their own timestamps apply)."""
    if not state.pending:
        return state
    s, keep = state, []
    for p in state.pending:
        vec = lookup(p.item_id)
        if vec is None:
            keep.append(p)
        else:
            s = add_content(s, vec, p.weight, p.ts, params.normalize_items, params.content_half_life)
    return replace(s, pending=tuple(keep))
