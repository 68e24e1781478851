"""dockwarden: audit Docker deployments end to end."""

__version__ = "0.1.0"
