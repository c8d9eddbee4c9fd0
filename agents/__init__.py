"""Faust agents, one concern a module; each stays thin and calls the recommender or the models."""
