"""suo core: the chat features (links, QR, stats, digest, settings, 活码), their storage
ports and the link policy, independent of any chat platform and of the web server.

Adapters translate platform updates into `IncomingMessage` and send back `Reply` values;
nothing here imports `adapters/` or `redirector/`.
"""
