"""Operations: the health and metrics endpoints, backup (export and import), system checks, logging."""
