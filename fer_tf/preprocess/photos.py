"""Reading a photo as a viewer shows it: upright by its EXIF orientation,
16-bit and float images scaled to 8 bits by their own range, and one clear
line for anything that is not a readable regular image file."""

import os
import pathlib
import stat

import numpy as np

from fer_tf.errors import DatasetError


def read_image(path):
    """A photo as uint8 RGB (H, W, 3) or grey (H, W, 1), upright as a viewer
    shows it (EXIF orientation applied; 16-bit and float images scaled by
    their own range); one DatasetError line for a file that is missing, not
    a regular file, not an image, truncated, or a decompression bomb."""
    import PIL.Image
    import PIL.ImageOps

    path = pathlib.Path(path)
    check_regular_file(path)
    try:
        with PIL.Image.open(path) as im:
            im.load()
            try:
                im = PIL.ImageOps.exif_transpose(im)
            except Exception:  # a damaged EXIF block: the pixels are still good
                pass
            if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
                arr = _to_uint8(np.asarray(im))[..., None]
            elif im.mode in ("L", "1", "LA", "La"):
                arr = np.asarray(im.convert("L"))[..., None]
            else:
                arr = np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file.") from None
    except PIL.Image.DecompressionBombError as e:
        raise DatasetError(f"{path}: refused as a possible decompression bomb ({e}); "
                           "expected an image of at most PIL.Image.MAX_IMAGE_PIXELS "
                           "pixels.") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise DatasetError(f"{path}: not a readable image ({str(e).splitlines()[0][:120]}); "
                           "expected a PNG, JPEG, BMP, GIF, TIFF or WebP file.") from None
    return arr


def _to_uint8(values):
    """16-bit or float pixels -> uint8 by their own range (min -> 0, max ->
    255): a 12-bit scan or a [0, 1] float image is not clipped to white or
    black. NaNs become 0; a constant image keeps its value, clipped."""
    values = np.asarray(values, np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        return np.zeros(values.shape, np.uint8)
    low, high = values[finite].min(), values[finite].max()
    if high > low:
        scaled = (values - low) * (255.0 / (high - low))
    else:
        scaled = np.clip(values, 0.0, 255.0)
    return np.round(np.where(finite, scaled, 0.0)).clip(0, 255).astype(np.uint8)


def check_regular_file(path):
    """Refuses (DatasetError) a path that exists but is no regular file: a
    FIFO would block the reader forever, a device would never end."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file.") from None
    except OSError as e:
        raise DatasetError(f"{path}: cannot read it ({e.strerror or e}).") from None
    if not stat.S_ISREG(mode):
        what = "a folder" if stat.S_ISDIR(mode) else "not a regular file (a FIFO, " \
                                                     "socket or device)"
        raise DatasetError(f"{path}: {what}; expected an image or video file.")
