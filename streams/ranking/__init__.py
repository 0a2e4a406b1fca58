"""Fusion of recommender sources (normalise, weight, filter seen, diversify) and its config."""
from streams.ranking.config import (DEFAULT_WEIGHTS, FusionConfig, default_config,
                                    validate_config)
from streams.ranking.errors import InvalidConfig, RankingError
from streams.ranking.fusion import fuse, gather
from streams.ranking.mmr import mmr
from streams.ranking.normalise import minmax, minmax_array, normalise_array

__all__ = ["DEFAULT_WEIGHTS", "FusionConfig", "InvalidConfig", "RankingError",
           "default_config", "fuse", "gather", "minmax", "minmax_array", "mmr", "normalise_array", "validate_config"]
