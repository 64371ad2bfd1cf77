"""suo's composition root (`app`), command line (`cli`) and process logging (`logs`): wires
config, store, core, adapters, schedulers and the redirector.

The only place that knows every layer; everything else receives what it needs.
"""
