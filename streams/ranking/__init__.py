"""Fusion of recommender sources (normalise, weight, filter seen, diversify) and its config."""
from streams.ranking.config import (DEFAULT_WEIGHTS, FusionConfig, default_config,
                                    validate_config)
from streams.ranking.errors import InvalidConfig, RankingError
from streams.ranking.fusion import combine, fuse, gather
from streams.ranking.mmr import mmr
from streams.ranking.normalise import minmax, normalise

__all__ = ["DEFAULT_WEIGHTS", "FusionConfig", "InvalidConfig", "RankingError", "combine",
           "default_config", "fuse", "gather", "minmax", "mmr", "normalise", "validate_config"]
