"""Reading images: sources (Engine, docker-save tar, OCI layout, registry), the single
streaming pass over the layers, and the analyzers that receive file contents."""
