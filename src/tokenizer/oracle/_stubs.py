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

# Without OpenCV, mistral-common cannot resize image pixels. The oracle only needs the token grid
# (computed from the image size before any resizing), so the pixel transform is replaced by zeros.
try:
    import cv2  # noqa: F401
except ModuleNotFoundError:
    import numpy as np
    from mistral_common.tokens.tokenizers import image as _image

    def _no_pixels(image, new_size):
        return np.zeros((3, new_size[1], new_size[0]), dtype=np.float32)

    _image.transform_image = _no_pixels
