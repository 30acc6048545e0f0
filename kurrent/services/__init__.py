"""The services: every command and query on the data, with its permission checks.

Views and the API call these and nothing below them. Commands go through one pipeline
(`pipeline`); `records` and `userdata` clean their fields and build their events.
"""
