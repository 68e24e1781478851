"""All I/O: the Engine API, local files and /proc. Produces `model/` snapshots."""
