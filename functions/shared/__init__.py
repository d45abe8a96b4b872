"""The small library every function uses: settings, clients, logs, metrics, errors, the item schema."""
