"""The short-link redirector: an aiohttp app that answers 302s, records clicks, and serves the
web page and the group dashboards.

Imports the store and link rules from `bot/`, never an adapter.
"""
