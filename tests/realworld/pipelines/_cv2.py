"""The part of OpenCV (``cv2``) the corpus's loaders call, for environments without ``opencv-python``.

pipecheck does not depend on OpenCV, so the cases import ``cv2`` from here: the real module when it is
installed, else a stand-in with the same contract where it matters for these bugs: ``imread``
(and ``imdecode``) returns a uint8 ``(H, W, 3)`` array in **BGR** order (or None for an unreadable file),
``imwrite`` takes BGR and writes the file's RGB, ``resize``
takes ``(width, height)``, ``cvtColor(img, COLOR_BGR2RGB)`` swaps the first and last channel, and
``VideoCapture`` opens an image sequence (``frame_%03d.jpg``, as OpenCV's image-sequence backend does)
whose ``read()`` gives ``(True, BGR frame)`` until the frames run out.
"""

from __future__ import annotations

try:  # pragma: no cover - depends on the environment
    import cv2  # type: ignore[import-not-found]  # noqa: F401
except ImportError:
    import os
    import types

    import numpy as np

    def _imread(path, flags=1):
        from PIL import Image

        try:
            with Image.open(path) as img:
                if flags == 0:  # IMREAD_GRAYSCALE
                    return np.asarray(img.convert("L"))
                rgb = np.asarray(img.convert("RGB"))
        except OSError:
            return None
        return np.ascontiguousarray(rgb[..., ::-1])  # OpenCV's channel order: B, G, R

    def _imdecode(buf, flags):
        import io

        from PIL import Image

        with Image.open(io.BytesIO(np.asarray(buf, np.uint8).tobytes())) as img:
            if flags == 0:
                return np.asarray(img.convert("L"))
            return np.ascontiguousarray(np.asarray(img.convert("RGB"))[..., ::-1])

    def _imwrite(path, img):
        from PIL import Image

        pixels = np.ascontiguousarray(img[..., ::-1] if img.ndim == 3 else img)  # BGR in, RGB in the file
        Image.fromarray(pixels).save(path)
        return True

    def _resize(img, dsize, interpolation=1):
        from PIL import Image

        width, height = dsize
        resample = Image.BILINEAR if interpolation == 1 else Image.NEAREST
        return np.asarray(Image.fromarray(np.ascontiguousarray(img)).resize((width, height), resample))

    def _cvt_color(img, code):
        if code != 4:
            raise NotImplementedError(f"cvtColor code {code}")
        return np.ascontiguousarray(img[..., ::-1])

    class _VideoCapture:
        def __init__(self, pattern):
            self.pattern, self.index = pattern, 0

        def isOpened(self):
            return self.pattern is not None

        def read(self):
            frame = _imread(self.pattern % self.index) if self.pattern is not None else None
            self.index += 1
            return frame is not None, frame

        def get(self, prop):
            if prop != 7:  # CAP_PROP_FRAME_COUNT
                raise NotImplementedError(f"VideoCapture.get({prop})")
            n = 0
            while os.path.isfile(self.pattern % n):
                n += 1
            return float(n)

        def release(self):
            self.pattern = None

    for _name, _fn in (("imread", _imread), ("imdecode", _imdecode), ("imwrite", _imwrite), ("resize", _resize),
                       ("cvtColor", _cvt_color), ("VideoCapture", _VideoCapture)):
        _fn.__module__, _fn.__name__ = "cv2", _name  # as OpenCV's own: `from cv2 import imread` is recognised

    cv2 = types.SimpleNamespace(__name__="cv2", imread=_imread, imdecode=_imdecode, imwrite=_imwrite, resize=_resize, cvtColor=_cvt_color, COLOR_BGR2RGB=4,
                                INTER_LINEAR=1, INTER_NEAREST=0, IMREAD_COLOR=1, IMREAD_GRAYSCALE=0, VideoCapture=_VideoCapture,
                                CAP_PROP_FRAME_COUNT=7)
