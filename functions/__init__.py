"""Lambda code of the application layer: one package per function, and the shared library they use."""
