"""The read model: tables kept from the events in KurrentDB, for lists and searches (CQRS).

One writer: `apply.apply_batch`, which folds a batch of events into rows and moves the
environment's checkpoint in the same transaction, under the checkpoint row's lock.
`projector` runs it three ways (inline after a write, as a live subscription, as a
rebuild); `status` and `activity` read what it wrote; `search` queries its indexes.
"""
