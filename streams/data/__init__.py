"""Datasets for offline evaluation, demos and replay (MovieLens-100K)."""

from streams.data.movielens import Item, MovieLens, Ratings, load_movielens

__all__ = ["Item", "MovieLens", "Ratings", "load_movielens"]
