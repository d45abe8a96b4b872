"""The rotation function of the Aurora global database's master secret (``functions.rotation.handler``)."""
