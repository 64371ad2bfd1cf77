"""suo core: chat features (shorten, QR, stats) independent of any chat platform.

Adapters translate platform updates into `IncomingMessage` and send back `Reply` values.
"""
