"""The regional API: one Lambda function behind the region's API Gateway HTTP API (``handler.handle``)."""
