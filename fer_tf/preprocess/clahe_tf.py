"""CLAHE written with TensorFlow ops only, for serving graphs.

`fer_tf.preprocess.image_ops.clahe` runs OpenCV and so cannot live inside an
exported SavedModel, `.keras` or TFLite graph; `clahe_tf` is the same
operation as a traceable TensorFlow function (no py_function, no NumPy), so a
model trained on CLAHE-enhanced faces (landmark paper, Sec. III-B) can carry
its own preprocessing.
"""

import tensorflow as tf

from fer_tf.errors import ConfigError

_BINS = 256  # uint8 histogram, one bin per grey level


def _reflect_101(index, size):
    """Maps indices past the end of a `size`-long axis back inside it the way
    OpenCV's BORDER_REFLECT_101 does (mirror without repeating the edge:
    ... 2 1 | 0 1 2 ... n-1 | n-2 n-3 ...), repeating the mirror as often as
    needed so that images smaller than the padding are handled too."""
    period = tf.maximum(2 * size - 2, 1)
    folded = tf.math.floormod(index, period)
    return tf.where(folded < size, folded, period - folded)


def _clip_limit(clip_limit, tile_area):
    """OpenCV's per-bin cap: max(int(clipLimit * tileArea / 256), 1), 0 = off.

    OpenCV multiplies in double; TFLite has no float64 arithmetic, so this
    uses float32, which is exact (hence identical) whenever clip_limit / 256
    has a short binary expansion and the product stays below 2**24 - clip 2.0
    (any tile under 2**23 pixels), 1.5, 3.0, 40.0, ... For other limits the
    cap can be one count off only where the product lands within float32
    rounding of an integer."""
    if clip_limit <= 0:
        return None
    cap = tf.math.floor(tf.constant(clip_limit / _BINS, tf.float32)
                        * tf.cast(tile_area, tf.float32))
    return tf.maximum(tf.cast(cap, tf.int32), 1)


def _tile_luts(hist, clip_limit, tile_area):
    """Clipped, redistributed, scaled CDFs: (..., 256) int32 counts ->
    (..., 256) float32 LUT values in 0..255 (Zuiderveld 1994)."""
    cap = _clip_limit(clip_limit, tile_area)
    if cap is not None:
        excess = tf.reduce_sum(tf.nn.relu(hist - cap), axis=-1, keepdims=True)
        hist = tf.minimum(hist, cap)
        # Every bin gets excess // 256; the remaining `residual` counts go one
        # each to bins 0, step, 2*step, ... with step = 256 // residual, which
        # places exactly `residual` of them below 256.
        batch = excess // _BINS
        residual = excess - batch * _BINS
        step = tf.maximum(_BINS // tf.maximum(residual, 1), 1)
        bins = tf.range(_BINS, dtype=tf.int32)
        extra = tf.logical_and(tf.math.floormod(bins, step) == 0,
                               bins // step < residual)
        hist = hist + batch + tf.cast(extra, tf.int32)
    # float32 scale and product, rounded half to even (OpenCV's cvRound).
    scale = tf.constant(_BINS - 1, tf.float32) / tf.cast(tile_area, tf.float32)
    cdf = tf.cast(tf.cumsum(hist, axis=-1), tf.float32)
    return tf.clip_by_value(tf.round(cdf * scale), 0.0, 255.0)


def _neighbour_tiles(size, tile_size, tiles):
    """For each pixel index along one axis: the two tile indices whose centres
    enclose it (clamped at the borders) and the weight of the second one.

    Tile coordinate of pixel p is p / tileSize - 0.5, in float32 as OpenCV."""
    inv = tf.constant(1.0, tf.float32) / tf.cast(tile_size, tf.float32)
    coord = tf.cast(tf.range(size), tf.float32) * inv - 0.5
    first = tf.math.floor(coord)
    weight = coord - first
    first = tf.cast(first, tf.int32)
    second = tf.minimum(first + 1, tiles - 1)
    return tf.maximum(first, 0), second, weight


def clahe_tf(images, clip_limit=2.0, tile_grid=(8, 8)):
    """Contrast Limited Adaptive Histogram Equalization of every channel, in
    TensorFlow ops.

    CLAHE (Zuiderveld 1994, "Contrast Limited Adaptive Histogram
    Equalization", Graphics Gems IV) equalises each tile of a grid with its
    own histogram, capped at `clip_limit` times the mean bin count so noise is
    not amplified, and blends the four nearest tiles' mappings bilinearly so
    no tile edges show. The landmark paper (Sec. III-B) applies it with clip
    2.0 and 8x8 tiles, per channel, before face detection.

    This reproduces OpenCV's `createCLAHE(clipLimit, tileGridSize).apply` on
    uint8 planes step by step - bottom/right BORDER_REFLECT_101 padding to a
    multiple of the grid when either side is not one (OpenCV then pads both
    axes, by a whole tile-row/column where a side was already a multiple),
    256-bin tile histograms, the integer cap and its uniform redistribution,
    float32 LUTs and interpolation rounded half to even - so it equals
    `fer_tf.preprocess.image_ops.clahe` applied to each image; the tests
    measure a max abs difference of 0 (random and smooth images, 48x48, 37x53,
    160x160, 1 and 3 channels, constant images, tiny and non-square grids).

    Traceable with dynamic batch, height and width, e.g. under
    `tf.function(input_signature=[tf.TensorSpec([None, None, None, 1],
    tf.uint8)])`. Only TFLite builtin ops are used (GATHER,
    UNSORTED_SEGMENT_SUM, CUMSUM, FLOOR_DIV, FLOOR_MOD, ROUND, ...): the tests
    convert a dynamic-shape function with `TFLITE_BUILTINS` alone and compare
    the interpreter's output with OpenCV.

    Args:
        images: uint8 (or float holding integers 0..255) tensor of shape
            (N, H, W, C), C usually 1 or 3; N, H, W may be dynamic.
        clip_limit: float. Histogram cap relative to the mean bin count
            (OpenCV's clipLimit); <= 0 disables clipping (plain AHE).
        tile_grid: (rows, columns) of tiles, i.e. (height, width) as everywhere
            in fer_tf. OpenCV's tileGridSize is (columns, rows); the two agree
            for the square 8x8 grid.

    Returns:
        uint8 tensor of the same shape.

    Example:
        serve = tf.function(clahe_tf, input_signature=[
            tf.TensorSpec([None, None, None, 1], tf.uint8)])
        enhanced = serve(faces)

    Reference:
        K. Zuiderveld, "Contrast Limited Adaptive Histogram Equalization",
        Graphics Gems IV, 1994; landmark paper Sec. III-B.
    """
    try:
        tiles_y, tiles_x = (int(t) for t in tile_grid)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"CLAHE tile_grid must be (rows, columns), got "
                          f"{tile_grid!r}.") from e
    if min(tiles_y, tiles_x) < 1:
        raise ConfigError(f"CLAHE tile_grid must be positive, got {tile_grid!r}.")
    clip_limit = float(clip_limit)
    images = tf.convert_to_tensor(images)
    if images.shape.rank is not None and images.shape.rank != 4:
        raise ConfigError(f"clahe_tf expects images of shape (N, H, W, C), got "
                          f"{images.shape}.")
    if images.dtype.is_floating:
        values = tf.cast(tf.round(tf.clip_by_value(images, 0.0, 255.0)), tf.int32)
    else:
        values = tf.clip_by_value(tf.cast(images, tf.int32), 0, 255)

    shape = tf.shape(values)
    n, h, w, c = shape[0], shape[1], shape[2], shape[3]
    planes = tf.reshape(tf.transpose(values, [0, 3, 1, 2]), [n * c, h, w])
    count = n * c

    # OpenCV pads (bottom, right) by tiles - size % tiles on BOTH axes as soon
    # as either is not a multiple, even where that adds a full tile's worth.
    uneven = tf.logical_or(h % tiles_y != 0, w % tiles_x != 0)
    padded_h = tf.where(uneven, h + tiles_y - h % tiles_y, h)
    padded_w = tf.where(uneven, w + tiles_x - w % tiles_x, w)
    padded = tf.gather(planes, _reflect_101(tf.range(padded_h), h), axis=1)
    padded = tf.gather(padded, _reflect_101(tf.range(padded_w), w), axis=2)
    tile_h, tile_w = padded_h // tiles_y, padded_w // tiles_x
    tile_area = tile_h * tile_w

    # One histogram segment per (plane, tile, grey level).
    num_tiles = tiles_y * tiles_x
    tiled = tf.reshape(padded, [count, tiles_y, tile_h, tiles_x, tile_w])
    plane_base = tf.reshape(tf.range(count) * (num_tiles * _BINS), [-1, 1, 1, 1, 1])
    row_base = tf.reshape(tf.range(tiles_y) * (tiles_x * _BINS), [1, -1, 1, 1, 1])
    col_base = tf.reshape(tf.range(tiles_x) * _BINS, [1, 1, 1, -1, 1])
    segments = tf.reshape(tiled + plane_base + row_base + col_base, [-1])
    hist = tf.math.unsorted_segment_sum(tf.ones_like(segments), segments,
                                        count * num_tiles * _BINS)
    luts = _tile_luts(tf.reshape(hist, [count, num_tiles, _BINS]), clip_limit,
                      tile_area)
    luts = tf.reshape(luts, [-1])

    # Bilinear blend of the four nearest tile centres, over the unpadded image.
    y1, y2, ya = _neighbour_tiles(h, tile_h, tiles_y)
    x1, x2, xa = _neighbour_tiles(w, tile_w, tiles_x)
    base = tf.reshape(tf.range(count) * (num_tiles * _BINS), [-1, 1, 1]) + planes
    rows1 = tf.reshape(y1 * (tiles_x * _BINS), [1, -1, 1])
    rows2 = tf.reshape(y2 * (tiles_x * _BINS), [1, -1, 1])
    cols1 = tf.reshape(x1 * _BINS, [1, 1, -1])
    cols2 = tf.reshape(x2 * _BINS, [1, 1, -1])
    ya = tf.reshape(ya, [1, -1, 1])
    xa = tf.reshape(xa, [1, 1, -1])
    # Same association order as OpenCV, so float32 rounding matches.
    top = (tf.gather(luts, base + rows1 + cols1) * (1.0 - xa)
           + tf.gather(luts, base + rows1 + cols2) * xa)
    bottom = (tf.gather(luts, base + rows2 + cols1) * (1.0 - xa)
              + tf.gather(luts, base + rows2 + cols2) * xa)
    blended = top * (1.0 - ya) + bottom * ya
    out = tf.cast(tf.clip_by_value(tf.round(blended), 0.0, 255.0), tf.uint8)

    out = tf.transpose(tf.reshape(out, [n, c, h, w]), [0, 2, 3, 1])
    out.set_shape(images.shape)
    return out
