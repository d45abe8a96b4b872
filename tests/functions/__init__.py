"""Function tests: the Lambda code against a real Redis server and the moto server."""
