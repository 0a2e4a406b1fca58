"""``genre eval --offline``: argument parsing and printing around :func:`run_offline`."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from streams.eval.offline import BASELINES, OfflineConfig, run_offline
from streams.eval.report import share_markdown, table_markdown


def parse_weights(text: str) -> dict[str, float]:
    """``"session=.625,content=.125"`` -> {"session": 0.625, "content": 0.125}."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        if not value:
            raise argparse.ArgumentTypeError(f"expected name=weight, got {part!r}")
        out[name.strip()] = float(value)
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="genre eval --offline",
                                description="Temporal replay of MovieLens-100K: product vs baselines.")
    p.add_argument("--split", choices=("test", "validation"), default="test")
    p.add_argument("--out", type=Path, default=Path("reports"), help="report folder (default reports/)")
    p.add_argument("--weights", type=parse_weights, default=None,
                   help="fusion weights name=w,...; omitted = tuned on the validation replay")
    p.add_argument("--baselines", default=",".join(BASELINES),
                   help=f"comma list from {', '.join(BASELINES)} (empty for none)")
    p.add_argument("--no-product", action="store_true", help="baselines only")
    p.add_argument("--no-media", action="store_true", help="ignore plot text / posters")
    p.add_argument("--limit", type=int, default=None, help="replay only the first N events")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def main_eval_offline(argv: list[str] | None = None) -> int:
    """Run the offline evaluation, print the table, write the report; exit code 0."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    baselines = tuple(b for b in args.baselines.split(",") if b)
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        build_parser().error(f"unknown baselines {unknown}; known: {list(BASELINES)}")
    config = OfflineConfig(split=args.split, product=not args.no_product, baselines=baselines,
                           weights=args.weights, out_dir=args.out, media=not args.no_media,
                           limit=args.limit, progress=not args.quiet)
    report = run_offline(config)
    if args.json:
        print(json.dumps({"split": report.split, "scored": report.scored, "rows": report.rows,
                          "weights": report.weights, "source_share": report.source_share}, indent=2))
        return 0
    print(f"{report.split} replay: {report.scored:,} scored events, {report.seconds:.0f} s")
    print(table_markdown(report.rows))
    if report.weights:
        print("weights: " + ", ".join(f"{k}={v:g}" for k, v in report.weights.items()))
    if report.source_share:
        print(share_markdown(report.source_share))
    for path in report.files:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main_eval_offline())
