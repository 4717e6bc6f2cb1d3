"""What the server is and what it accepts: health and limits, project kinds, training settings."""

from __future__ import annotations

from fastapi import APIRouter

from ...version import __version__
from ...kinds import KINDS
from ...settings import SETTINGS
from ..limits import LIMITS
from ..schemas import HealthOut, KindOut, SettingOut

router = APIRouter(prefix="/api", tags=["meta"])


@router.get("/health", response_model=HealthOut)
def health() -> dict:
    return {"ok": True, "version": __version__, "limits": LIMITS}


@router.get("/kinds", response_model=list[KindOut])
def kinds() -> list[dict]:
    """The project kinds and their rules (accepted files, special classes, minimum counts):
    the page asks instead of knowing them."""
    return [kind.rules() for kind in KINDS.values()]


@router.get("/settings", response_model=list[SettingOut])
def settings() -> list[dict]:
    """Every training setting with its default and valid range (the page builds its form from this)."""
    return [setting.to_dict() for setting in SETTINGS]
