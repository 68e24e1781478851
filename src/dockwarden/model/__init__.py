"""Frozen snapshots of what was gathered, and the findings judged from them.

Nothing in this package performs I/O; `collect/` builds these objects and
`checks/` reads them.
"""
