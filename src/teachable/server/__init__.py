"""The web app: a JSON REST API under /api, a WebSocket for live prediction, and the page."""

from .app import create_app

__all__ = ["create_app"]
