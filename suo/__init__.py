"""suo's composition root and command line: wires config, store, core, adapters, redirector.

The only place that knows every layer; everything else receives what it needs.
"""
