"""The version of Teachable (written into model files and reported by the server)."""

__version__ = "0.1.0"
