"""sockdash's protocols and socket servers. Imports no Flask."""

__version__ = "0.1.0"
