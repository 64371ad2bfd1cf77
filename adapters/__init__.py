"""Platform adapters: translate platform updates into `IncomingMessage` and replies back.

Each adapter owns its platform's limits, retries and wire format; the core never sees them.
"""
