"""Recommender sources behind one Protocol, created by name (``create("session", stats=…)``)."""
from streams.recommenders import cf, content, popular, session  # noqa: F401  (registers)
from streams.recommenders.base import (EMPTY, Context, Recommender, RecommenderError, Scored,
                                       UnknownRecommender, VectorSearch)
from streams.recommenders.registry import create, names, register

__all__ = ["EMPTY", "Context", "Recommender", "RecommenderError", "Scored",
           "UnknownRecommender", "VectorSearch", "create", "names", "register"]
