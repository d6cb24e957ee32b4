"""Lets mistral-common 1.12 import without `pydantic-extra-types`, which is not installable here.

mistral-common only uses `LanguageAlpha2` to type transcription requests (audio); the oracle never
builds one, so a plain `str` alias is enough.
"""
import sys
import types

if "pydantic_extra_types" not in sys.modules:
    try:
        import pydantic_extra_types.language_code  # noqa: F401
    except ModuleNotFoundError:
        pkg = types.ModuleType("pydantic_extra_types")
        mod = types.ModuleType("pydantic_extra_types.language_code")
        mod.LanguageAlpha2 = str  # type: ignore[attr-defined]
        pkg.language_code = mod  # type: ignore[attr-defined]
        sys.modules["pydantic_extra_types"] = pkg
        sys.modules["pydantic_extra_types.language_code"] = mod
