"""The JSON API at /api/v1/ (django-ninja): the same services as the pages, typed, with OpenAPI.

A Django app of its own (label `kurrent_api`) because it keeps two tables that are not
the read model: API tokens and the idempotency keys of API writes.
"""
