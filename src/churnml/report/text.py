"""The words of the reports, one YAML file per language in ``text/``."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

import yaml

LANGUAGES = ("en", "ja")


@cache
def _load(lang: str) -> dict:
    return yaml.safe_load(files(__package__).joinpath("text", f"{lang}.yaml").read_text("utf-8"))


def text(lang: str = "en") -> dict:
    """Every string of one language; an unknown language falls back to English."""
    return _load(lang if lang in LANGUAGES else "en")
