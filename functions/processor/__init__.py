"""The event processor: applies the events of the region's SQS queue to the table (``handler.handle``)."""
