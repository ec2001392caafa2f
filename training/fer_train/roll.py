"""Head roll for measurements: a face turned in the image plane, as a tilted head looks to a camera."""
from __future__ import annotations

import numpy as np
from PIL import Image


def rolled(face: np.ndarray, degrees: float) -> np.ndarray:
    """A (H, W) uint8 face turned counter-clockwise by `degrees` about its centre, in the same square; mirror padding
    fills the corners with face and background rather than black."""
    if degrees == 0:
        return face
    ph, pw = face.shape[0] // 2, face.shape[1] // 2
    padded = np.pad(face, ((ph, ph), (pw, pw)), mode="reflect")
    turned = np.asarray(Image.fromarray(padded).rotate(degrees, resample=Image.Resampling.BILINEAR))
    return turned[ph:ph + face.shape[0], pw:pw + face.shape[1]]
