"""The short-link redirector: an aiohttp app that answers 302s and records clicks.

Imports the store and link rules from `bot/`, never an adapter.
"""
