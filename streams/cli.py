"""The ``genre`` command: local Kafka, topics, the stack, and each area's tools.

Each subcommand imports its area lazily so ``genre kafka status`` does not load torch.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from streams.errors import GenreError
from streams.settings import Settings, get_settings


def _print(obj: Any) -> None:
    sys.stdout.write(orjson.dumps(obj, option=orjson.OPT_INDENT_2, default=str).decode() + "\n")


def _kafka(args: argparse.Namespace, s: Settings) -> int:
    from streams import localkafka
    action = args.action
    if action == "install":
        _print({"lib": str(localkafka.install(s))})
    elif action == "start":
        _print({"pid": localkafka.start(s), "bootstrap": s.bootstrap})
    elif action == "stop":
        _print({"stopped": localkafka.stop(s)})
    else:
        _print(localkafka.status(s))
    return 0


def _topics(args: argparse.Namespace, s: Settings) -> int:
    from streams.kafka_io import make_admin
    from streams.topics import create_topics
    if args.action == "create":
        _print({"created": create_topics(s)})
    else:
        md = make_admin(s).list_topics(timeout=10)
        _print({n: len(t.partitions) for n, t in sorted(md.topics.items()) if n.startswith(s.topic_prefix)})
    return 0


def _up(args: argparse.Namespace, s: Settings) -> int:
    from streams import stack
    _print({"started": stack.up(s, workers=not args.no_workers)})
    return 0


def _down(args: argparse.Namespace, s: Settings) -> int:
    from streams import stack
    _print({"stopped": stack.down(s, stop_kafka=not args.keep_kafka)})
    return 0


def _status(args: argparse.Namespace, s: Settings) -> int:
    from streams import stack
    st = stack.status(s)
    _print(st)
    return 0 if st["kafka"]["reachable"] else 1


def _user(args: argparse.Namespace, s: Settings) -> int:
    client = importlib.import_module("streams.web.client")
    _print(client.show_user(s, args.user_id, web_url=args.url))
    return 0


def _config(args: argparse.Namespace, s: Settings) -> int:
    from streams import config_admin as ca
    if args.action == "set":
        proposal: dict[str, Any] = orjson.loads(args.json) if args.json else {}
        if args.weights:
            proposal["weights"] = ca.full_weights(ca.parse_weights(args.weights))
        if args.k is not None:
            proposal["k"] = args.k
        proposal.update({"scenario": args.scenario, "source": "cli", "note": args.note})
        _print(ca.as_dict(ca.propose(s, proposal)))
        return 0
    fold = ca.current(s)
    if args.action == "history":
        _print([ca.as_dict(cv) for cv in fold.history if cv.scenario == args.scenario])
    else:
        _print(ca.as_dict(fold.get(args.scenario)))
    return 0


def _replay(args: argparse.Namespace, s: Settings) -> int:
    from streams.replay import parse_speed, replay_movielens
    _print(replay_movielens(s, speed=parse_speed(args.speed), rate=args.rate, limit=args.limit,
                            items=not args.no_items, ratings=not args.items_only, media_dir=args.media,
                            causal_from=args.causal_from))
    return 0


def _train(args: argparse.Namespace, s: Settings) -> int:
    import signal
    import threading

    from streams.training import service
    from streams.training.model import CFModel
    from streams.training.trainer import train_cf

    def summary(m: CFModel) -> dict[str, Any]:
        return {"version": m.version, "items": len(m.item_ids), "metrics": m.metrics}

    if args.file:
        model = train_cf(args.file)
        service.publish_model(s, model)
        _print(summary(model))
    elif args.every:
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        for model in service.train_every(s, args.every, stop):
            _print(summary(model))
    else:
        _print(summary(service.train_once(s)))
    return 0


def _eval(args: argparse.Namespace, s: Settings) -> int:
    if args.offline:
        from streams.eval.cli import main_eval_offline
        return main_eval_offline(args.rest)
    from pathlib import Path

    from streams.eval.live import run_live, summary_text
    offline = None
    if args.compare:
        from streams.eval.offline import OfflineConfig, run_offline
        from streams.config_admin import current_weights
        cfg = current_weights(s, args.scenario)
        offline = run_offline(OfflineConfig(baselines=(), weights=cfg, out_dir=None)).rows["product"]
    report, score = run_live(s, Path(args.out), offline)
    print(summary_text(report, score))
    for path in report.files:
        print(f"wrote {path}")
    return 0


def _demo(args: argparse.Namespace, s: Settings) -> int:
    from pathlib import Path

    from streams.demo import run_demo
    run_demo(s, rate=args.rate, limit=args.limit, out=Path(args.out), compare=not args.no_compare,
             causal=not args.no_causal, bandit=args.bandit)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="genre", description="GENRE stream: real-time recommender on Kafka")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    k = sub.add_parser("kafka", help="the local single-node Kafka broker")
    k.add_argument("action", choices=["install", "start", "stop", "status"])
    k.set_defaults(fn=_kafka)

    t = sub.add_parser("topics", help="create or list the wire-contract topics")
    t.add_argument("action", choices=["create", "list"])
    t.set_defaults(fn=_topics)

    u = sub.add_parser("up", help="start Kafka (if local), create topics, start workers")
    u.add_argument("--no-workers", action="store_true")
    u.set_defaults(fn=_up)
    d = sub.add_parser("down", help="stop what 'up' started")
    d.add_argument("--keep-kafka", action="store_true")
    d.set_defaults(fn=_down)
    sub.add_parser("status", help="each part of the stack").set_defaults(fn=_status)

    us = sub.add_parser("user", help="inspect a user's state")
    us.add_argument("action", choices=["show"])
    us.add_argument("user_id")
    us.add_argument("--url", default=None, help="a worker's web URL (default: local worker)")
    us.set_defaults(fn=_user)

    c = sub.add_parser("config", help="runtime fusion config (the control topic)")
    c.add_argument("action", choices=["show", "set", "history"])
    c.add_argument("--scenario", default="default")
    c.add_argument("--weights", help="the new weights, e.g. session=0.5,cf=0.5 (sources not named get 0)")
    c.add_argument("--k", type=int, default=None, help="list length")
    c.add_argument("--json", help="any config fields as a JSON object")
    c.add_argument("--note", default=None, help="why (kept in the history)")
    c.set_defaults(fn=_config)

    r = sub.add_parser("replay", help="publish a dataset through Kafka into the running stack")
    r.add_argument("dataset", choices=["ml-100k"])
    r.add_argument("--speed", default="max", help="'max' or a multiple of real time, e.g. 1000x")
    r.add_argument("--rate", type=float, default=None, help="at most this many events per second")
    r.add_argument("--limit", type=int, default=None, help="only the first N ratings")
    r.add_argument("--no-items", action="store_true", help="skip the item upserts")
    r.add_argument("--items-only", action="store_true", help="publish the items, no ratings")
    r.add_argument("--causal-from", type=int, default=None, metavar="N",
                   help="from rating N on, a user's next rating waits for the list answering the previous one")
    r.add_argument("--media", default=None, help="folder with posters and plots (default: ../shared/data/ml-100k-media)")
    r.set_defaults(fn=_replay)

    tr = sub.add_parser("train", help="fit CF item factors from the interaction log; publish to models")
    tr.add_argument("--file", help="a JSONL interaction log instead of the interactions topic")
    tr.add_argument("--every", type=int, default=None,
                    help="keep running: retrain after every N new events (scheduled retraining)")
    tr.set_defaults(fn=_train)

    ev = sub.add_parser("eval", help="quality on MovieLens-100K: --offline (no Kafka) or --live (the running stack)")
    mode = ev.add_mutually_exclusive_group(required=True)
    mode.add_argument("--offline", action="store_true", help="product + baselines on the temporal replay")
    mode.add_argument("--live", action="store_true", help="score the lists the stack emitted during a replay")
    ev.add_argument("--compare", action="store_true",
                    help="(--live) also run the offline replay at the active config's weights")
    ev.add_argument("--scenario", default="default")
    ev.add_argument("--out", default="reports", help="(--live) report folder")
    ev.add_argument("rest", nargs=argparse.REMAINDER,
                    help="(--offline) options of the offline evaluator: --split, --weights, --baselines, --limit, …")
    ev.set_defaults(fn=_eval)

    dm = sub.add_parser("demo", help="the whole loop on MovieLens-100K: up, encode, replay, live evaluation")
    dm.add_argument("--rate", type=float, default=500.0, help="ratings per second during the replay")
    dm.add_argument("--limit", type=int, default=None, help="only the first N ratings (quick look)")
    dm.add_argument("--out", default="reports")
    dm.add_argument("--no-compare", action="store_true", help="skip the offline replay of the same config")
    dm.add_argument("--bandit", action="store_true",
                    help="start from equal weights and let the feedback loop's bandit tune them live")
    dm.add_argument("--no-causal", action="store_true",
                    help="replay the scored half at --rate without waiting for each user's list")
    dm.set_defaults(fn=_demo)

    for register in EXTRA_COMMANDS:
        register(sub)
    return p


#: Areas add their subcommands here (``fn(subparsers)``), keeping this file small.
EXTRA_COMMANDS: list[Callable[[Any], None]] = []


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    # `genre eval --offline …` hands the rest to the offline evaluator's own parser.
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.command != "eval":
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command == "eval":
        args.rest = [*unknown, *args.rest]
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return int(args.fn(args, get_settings()) or 0)
    except GenreError as exc:
        logging.getLogger("genre").error("%s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
