"""The multi-region stack's components: typed config, regional and global ComponentResources, pure helpers."""
