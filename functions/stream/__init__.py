"""The stream handler: keeps last-writer-wins and this region's cache right for every changed item (``handler.handle``)."""
