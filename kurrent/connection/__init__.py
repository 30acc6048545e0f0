"""The connection layer: environment profiles, one managed client per environment, health, metrics."""
