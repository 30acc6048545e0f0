"""The framework-free core: event types and their JSON, the domain folds and rules, errors."""
