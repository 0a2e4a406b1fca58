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

from streams.state.decay import LN2, decay_factor
from streams.state.errors import StateError
from streams.state.foldin import CFModel, fold_in
from streams.state.seen import SeenSet, item_fingerprint
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


Content = tuple[np.ndarray | None, float, float]  # (vector, mass, last ts)


def add_content(s: UserState, vec: np.ndarray, w: float, t: float, normalize: bool,
                half_life: float) -> UserState:
    v, mass, ts = fold_content((s.content, s.content_mass, s.content_ts), (vec,), (w,), (t,),
                               normalize, half_life)
    return replace(s, content=v, content_mass=mass, content_ts=ts)


def _pinned(positives: Iterable[str]) -> Callable[[], list[int]]:
    """The positives' fingerprints, computed only when the seen set rotates."""
    return lambda: [item_fingerprint(i) for i in positives]


def apply_event(state: UserState, event: Any, vector: np.ndarray | None, params: UserParams,
                cf: CFModel | None = None) -> UserState:
    """One interaction → new state. ``vector`` is the item's content vector if known yet.

    With ``cf`` the collaborative vector is re-solved now; without, it is marked stale and
    :func:`refresh_cf` solves it lazily (the batch path does that once per batch).
    Raises :class:`~streams.state.errors.StateError` for unknown types / missing values.
    """
    return apply_events(state, (event,), (vector,), params, cf)


def fold_content(c: Content, vecs: Sequence[np.ndarray], ws: Sequence[float], ts: Sequence[float],
                 normalize: bool, half_life: float) -> Content:
    """Fold weighted item vectors into the decayed interest sum ``(Σ w·x, Σ w, newest t)``.

    The decayed sum has a closed form: with ``T`` the newest time folded so far,
    ``v = Σ w_i · 2^(-(T - t_i)/h) · x_i``, so a batch is one decay of the old sum plus one
    (events x dim) product, not a numpy round trip per event; the result is the same in any
    event order (out-of-order events are discounted, never amplified), up to float rounding.
    ``x`` is the unit vector when ``normalize``; zero vectors carry no direction and are
    ignored, as are vectors of another dimension than the sum's (or the first one's).
    """
    v, mass, t0 = c
    dim = v.shape if v is not None else None
    rows: list[np.ndarray] = []
    inv: list[float] = []
    keep_w: list[float] = []
    keep_t: list[float] = []
    for vec, w, t in zip(vecs, ws, ts):
        x = np.asarray(vec, dtype=np.float32).reshape(-1)
        if w == 0.0 or (dim is not None and x.shape != dim):
            continue
        n = 1.0
        if normalize:
            n = math.sqrt(float(np.dot(x, x)))
            if not (n > 0 and math.isfinite(n)):
                continue
        dim = x.shape
        rows.append(x)
        inv.append(1.0 / n)
        keep_w.append(w)
        keep_t.append(t)
    if not rows:
        return c
    tw = np.asarray(keep_t, dtype=np.float64)
    top = float(tw.max()) if v is None else max(t0, float(tw.max()))
    if math.isinf(half_life):
        wd, d_old = np.asarray(keep_w, dtype=np.float64), 1.0
    else:
        wd = np.asarray(keep_w, dtype=np.float64) * np.exp(-LN2 * (top - tw) / half_life)
        d_old = decay_factor(top - t0, half_life)
    coef = (wd * np.asarray(inv)).astype(np.float32)
    add = coef @ np.vstack(rows) if len(rows) > 1 else coef[0] * rows[0]
    if v is None:
        return add, float(wd.sum()), top
    return v * np.float32(d_old) + add, mass * d_old + float(wd.sum()), top


def apply_events(state: UserState, events: Iterable[Any], vectors: Sequence[np.ndarray | None],
                 params: UserParams, cf: CFModel | None = None) -> UserState:
    """Several events of one user in order; the CF solve runs once at the end.

    The same state as folding the events one at a time (a unit test checks it), but the
    seen set and the bounded lists are copied once per call, not once per event, and the
    content vector is folded in one product (:func:`fold_content`).
    """
    s = state
    weights = params.weights
    pending, recent, seen = list(s.pending), list(s.recent), s.seen.updating()
    pos = dict(s.positives)  # item → weight, oldest first (one copy per call, not per event)
    cf_version, n, last = s.cf_version, s.n_events, s.last_ts
    c_vecs: list[np.ndarray] = []
    c_w: list[float] = []
    c_t: list[float] = []
    pinned = _pinned(pos)  # reads ``pos`` when called (only when the seen set rotates)
    for ev, vec in zip(events, vectors):
        sig = weights.signal(ev.type, ev.value)
        item, t = ev.item_id, float(ev.ts)
        if sig.content != 0.0:
            if vec is not None:
                c_vecs.append(vec)
                c_w.append(sig.content)
                c_t.append(t)
            else:
                pending.append(Pending(item, sig.content, t))
                if len(pending) > params.pending_max:
                    del pending[: len(pending) - params.pending_max]
        fp = item_fingerprint(item)
        if weights.is_negative(ev.type):
            if fp in seen and pos.pop(item, None) is not None:  # positives ⊆ seen
                cf_version = None
        elif sig.positive > 0:
            old = pos.pop(item, 0.0) if fp in seen else 0.0
            pos[item] = max(sig.positive, old)
            if len(pos) > params.positives_max:
                del pos[next(iter(pos))]
            cf_version = None
        recent.append(Recent(item, ev.type, t, sig.content))
        if len(recent) > params.recent_max:
            del recent[: len(recent) - params.recent_max]
        seen.add(fp, params.seen_max, pinned)
        n, last = n + 1, max(last, t)
    if n == s.n_events:
        new = s
    else:
        content = fold_content((s.content, s.content_mass, s.content_ts), c_vecs, c_w, c_t,
                               params.normalize_items, params.content_half_life)
        new = UserState(s.user_id, content[0], content[1], content[2], s.cf, cf_version,
                        tuple(recent), tuple(pos.items()), seen.done(), tuple(pending), n, last)
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
