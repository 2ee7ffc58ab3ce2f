"""A lossless FER2013 pack small enough to travel with the repository.

The Kaggle csv is 301 MB of text (77 MB as .xz); its 35,887 48x48 uint8
images are 83 MB raw. `write_pack` stores them in about 50 MB, decoded by
`read_pack` with NumPy and the standard library alone:

1. identical images are stored once (FER2013 repeats ~1,300 faces), with
   an index from every csv row to its stored image;
2. every pixel is predicted from already-decoded neighbours: a linear
   predictor over ten causal neighbours (integer weights fitted per
   context by least squares) inside the image, MED (LOCO-I) near its
   borders, the left/upper pixel on the first row/column;
3. the context of a pixel is its quantised local activity
   2(|a-c| + |b-c| + |d-b|) + |a-aa| + |b-bb| + |d-e| (a left, b up, c
   up-left, d up-right, aa/bb two to the left/up, e above d);
4. the residuals (mod 256) go into one stream per context, in
   pixel-position-major order (all images' pixel 0, then pixel 1, ...), so
   the decoder rebuilds every image at once, one pixel position per step,
   taking each context's values as a contiguous slice; each stream is
   lzma-compressed.

A SHA-256 of the decoded pixels, labels and Usage is stored and checked, so
a pack decodes to exactly the csv it was written from or raises
`DatasetError`. `fer_tf.data.readers.fer2013.read_fer2013` accepts a pack
path (or a folder holding `fer2013.pack`) wherever it takes the csv.
"""

import hashlib
import json
import lzma
import os
import struct
import time

import numpy as np

from fer_tf.errors import DatasetError

MAGIC = b"FER2013PACK\x00"
VERSION = 1
SUFFIX = ".pack"
DEFAULT_NAME = "fer2013" + SUFFIX
SIDE = 48
USAGES = ("Training", "PublicTest", "PrivateTest")
#: Causal neighbours (dy, dx) of the linear predictor, in weight order.
NEIGHBOURS = ((0, -1), (-1, 0), (-1, -1), (-1, 1), (0, -2), (-2, 0), (-2, 1), (-2, -1),
              (-1, -2), (-1, 2))
WEIGHT_SHIFT = 12
NUM_CONTEXTS = 12
#: Padding of the decode canvas: 2 rows above, 2 columns each side.
_PAD = 2
_LZMA = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME,
          "lc": 0, "lp": 0, "pb": 0}]


def _checksum(images, labels, usage_codes):
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(images, np.uint8).tobytes())
    h.update(np.asarray(labels, np.uint8).tobytes())
    h.update(np.asarray(usage_codes, np.uint8).tobytes())
    return h.hexdigest()


def _canvas(images):
    canvas = np.zeros((len(images), SIDE + _PAD, SIDE + 2 * _PAD), np.int32)
    canvas[:, _PAD:, _PAD:-_PAD] = images
    return canvas


def _kind(i, j):
    """The predictor of pixel (i, j): 'ls' (linear, 10 neighbours, context
    coded), 'med', 'left', 'up' or 'first'."""
    if i >= 2 and 2 <= j <= SIDE - 3:
        return "ls"
    if i >= 1 and j >= 1:
        return "med"
    if i == 0 and j == 0:
        return "first"
    return "left" if i == 0 else "up"


def _planes(canvas):
    """Every neighbour plane (N, 48, 48) of a fully known canvas."""
    def plane(dy, dx):
        return canvas[:, _PAD + dy:_PAD + dy + SIDE, _PAD + dx:_PAD + dx + SIDE]
    return [plane(dy, dx) for dy, dx in NEIGHBOURS]


def _activity(nb):
    """Local activity of a pixel from its neighbour planes/vectors (in
    NEIGHBOURS order): 2(|a-c| + |b-c| + |d-b|) + |a-aa| + |b-bb| + |d-e|."""
    a, b, c, d, aa, bb, e = nb[:7]
    return (2 * (np.abs(a - c) + np.abs(b - c) + np.abs(d - b))
            + np.abs(a - aa) + np.abs(b - bb) + np.abs(d - e))


def _med(a, b, c):
    hi, lo = np.maximum(a, b), np.minimum(a, b)
    return np.where(c >= hi, lo, np.where(c <= lo, hi, a + b - c))


def _linear(weights, ctx, neighbours):
    w = weights[ctx]  # (n, 10)
    acc = sum(w[..., k] * neighbours[k] for k in range(len(NEIGHBOURS)))
    return np.clip((acc + (1 << (WEIGHT_SHIFT - 1))) >> WEIGHT_SHIFT, 0, 255)


def _kinds():
    kinds = np.empty((SIDE, SIDE), object)
    for i in range(SIDE):
        for j in range(SIDE):
            kinds[i, j] = _kind(i, j)
    return kinds


def _fit(images, seed=0, sample=4000):
    """Context edges and per-context integer weights from a sample of images."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(images), min(sample, len(images)), replace=False)
    nb = _planes(_canvas(images[np.sort(pick)]))
    ls = _kinds() == "ls"
    act = _activity(nb)[:, ls].ravel()
    edges = np.unique(np.quantile(act, np.linspace(0, 1, NUM_CONTEXTS + 1)[1:-1]))
    edges = np.unique(np.round(edges).astype(np.int32))
    ctx = np.searchsorted(edges, act, side="right")
    target = images[np.sort(pick)].astype(np.float64)[:, ls].ravel()
    design = np.stack([n[:, ls].ravel() for n in nb], -1).astype(np.float64)
    weights = np.zeros((len(edges) + 1, len(NEIGHBOURS)), np.int32)
    for k in range(len(edges) + 1):
        m = ctx == k
        if m.sum() < 50:
            weights[k, :2] = 1 << (WEIGHT_SHIFT - 1)  # (a + b) / 2
            continue
        w, *_ = np.linalg.lstsq(design[m], target[m], rcond=None)
        weights[k] = np.round(w * (1 << WEIGHT_SHIFT)).astype(np.int32)
    return edges, weights


def _residuals(images, edges, weights):
    """Per-pixel residual (uint8, mod 256) and stream id, both (N, 48, 48)."""
    canvas = _canvas(images)
    nb = _planes(canvas)
    x = canvas[:, _PAD:, _PAD:-_PAD]
    a, b, c, d = nb[:4]
    kinds = _kinds()
    ctx = np.searchsorted(edges, _activity(nb), side="right").astype(np.int32)
    pred = _linear(weights, ctx, nb)
    med_id, edge_id = len(edges) + 1, len(edges) + 2
    med = kinds == "med"
    pred = np.where(med, _med(a, b, c), pred)
    pred = np.where(kinds == "left", a, pred)
    pred = np.where(kinds == "up", b, pred)
    pred = np.where(kinds == "first", 128, pred)
    stream = np.where(kinds == "ls", ctx, np.where(med, med_id, edge_id))
    return ((x - pred) & 255).astype(np.uint8), stream.astype(np.uint8)


def _dedupe(images):
    first, index, keep = {}, np.empty(len(images), np.int64), []
    for n, image in enumerate(images):
        key = hashlib.blake2b(image.tobytes(), digest_size=16).digest()
        if key not in first:
            first[key] = len(keep)
            keep.append(n)
        index[n] = first[key]
    return images[keep], index


def write_pack(csv_path, out_path, show_progress=True):
    """Reads a FER2013 csv (plain/.xz/.gz) and writes its lossless pack.

    Returns a dict of sizes and timings."""
    from fer_tf.data.readers.fer2013 import read_csv

    t0 = time.time()
    images, labels, usages, linenos = read_csv(os.fspath(csv_path), show_progress)
    codes = np.asarray([USAGES.index(u) for u in usages], np.uint8)
    t_read = time.time() - t0
    unique, index = _dedupe(images)
    edges, weights = _fit(unique)
    residual, stream = _residuals(unique, edges, weights)
    # Pixel-position-major order: all images' pixel 0, then pixel 1, ...
    residual = residual.reshape(len(unique), -1).T.ravel()
    stream = stream.reshape(len(unique), -1).T.ravel()
    blobs = [lzma.compress(residual[stream == k].tobytes(), format=lzma.FORMAT_RAW,
                           filters=_LZMA) for k in range(len(edges) + 3)]
    meta = np.concatenate([labels.astype(np.uint8), codes]).tobytes()
    meta += index.astype(np.uint32).tobytes() + linenos.astype(np.uint32).tobytes()
    blobs.insert(0, lzma.compress(meta, format=lzma.FORMAT_RAW, filters=_LZMA))
    header = {"version": VERSION, "rows": int(len(images)), "unique": int(len(unique)),
              "side": SIDE, "usages": list(USAGES), "edges": edges.tolist(),
              "weights": weights.tolist(), "weight_shift": WEIGHT_SHIFT,
              "blobs": [len(b) for b in blobs],
              "sha256": _checksum(images, labels, codes),
              "source": os.path.basename(os.fspath(csv_path))}
    head = json.dumps(header, separators=(",", ":")).encode()
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    tmp = os.fspath(out_path) + ".tmp"
    with open(tmp, "wb") as f:
        f.write(MAGIC + struct.pack("<I", len(head)) + head)
        for b in blobs:
            f.write(b)
    os.replace(tmp, out_path)
    return {"rows": int(len(images)), "unique_images": int(len(unique)),
            "bytes": os.path.getsize(out_path), "read_csv_s": round(t_read, 2),
            "pack_s": round(time.time() - t0 - t_read, 2)}


def is_pack(path):
    """True when `path` is a file starting with the pack's magic bytes."""
    try:
        with open(path, "rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def _bad(path, what):
    return DatasetError(f"fer2013: {path} is not a valid FER2013 pack ({what}); expected "
                        "a file written by `fer-tf data pack-fer2013`.")


def read_pack(path):
    """Decodes a pack written by `write_pack`.

    Returns:
        (images uint8 (N, 48, 48), labels int64 (N,), usage str (N,),
        csv line numbers int (N,)), exactly as `readers.fer2013.read_csv`
        returns them for the csv the pack was written from.

    Raises:
        DatasetError: the file is not a pack, is truncated or its checksum
            does not match.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise DatasetError(f"fer2013: cannot read pack {path}: {e}.") from e
    if not raw.startswith(MAGIC):
        raise _bad(path, f"its first bytes are not {MAGIC!r}")
    try:
        (n_head,) = struct.unpack_from("<I", raw, len(MAGIC))
        start = len(MAGIC) + 4
        header = json.loads(raw[start:start + n_head])
        sizes = header["blobs"]
        if header["version"] != VERSION:
            raise _bad(path, f"format version {header['version']}; this reader reads "
                             f"{VERSION}")
    except (struct.error, ValueError, KeyError, TypeError) as e:
        raise _bad(path, f"unreadable header: {e}") from e
    offset = start + n_head
    if len(raw) != offset + sum(sizes):
        raise _bad(path, f"{len(raw):,} bytes; its header says {offset + sum(sizes):,} "
                         "(truncated or appended to)")
    blobs = []
    try:
        for size in sizes:
            blobs.append(lzma.decompress(raw[offset:offset + size], format=lzma.FORMAT_RAW,
                                         filters=_LZMA))
            offset += size
    except lzma.LZMAError as e:
        raise _bad(path, f"corrupt compressed data: {e}") from e
    rows, unique = header["rows"], header["unique"]
    meta = np.frombuffer(blobs[0], np.uint8)
    try:
        labels = meta[:rows].astype(np.int64)
        codes = meta[rows:2 * rows]
        index = np.frombuffer(meta[2 * rows:6 * rows].tobytes(), np.uint32)
        linenos = np.frombuffer(meta[6 * rows:10 * rows].tobytes(), np.uint32).astype(np.int64)
        streams = [np.frombuffer(b, np.uint8) for b in blobs[1:]]
        images = _decode(unique, np.asarray(header["edges"], np.int32),
                         np.asarray(header["weights"], np.int32), streams)[index]
    except (ValueError, IndexError) as e:
        raise _bad(path, f"inconsistent contents: {e}") from e
    if _checksum(images, labels, codes) != header["sha256"]:
        raise _bad(path, "decoded pixels/labels/Usage do not match the stored SHA-256")
    usage = np.asarray(header["usages"])[codes]
    return images, labels, usage, linenos


def _decode(n, edges, weights, streams):
    canvas = np.zeros((n, SIDE + _PAD, SIDE + 2 * _PAD), np.int32)
    kinds = _kinds()
    med_id, edge_id = len(edges) + 1, len(edges) + 2
    ptr = np.zeros(len(streams), np.int64)
    num_ctx = len(edges) + 1
    for i in range(SIDE):
        for j in range(SIDE):
            y, x = _PAD + i, _PAD + j
            kind = kinds[i, j]
            if kind == "ls":
                nb = [canvas[:, y + dy, x + dx] for dy, dx in NEIGHBOURS]
                ctx = np.searchsorted(edges, _activity(nb), side="right")
                pred = _linear(weights, ctx, nb)
                order = np.argsort(ctx.astype(np.uint8), kind="stable")
                counts = np.bincount(ctx, minlength=num_ctx)
                parts = []
                for k in np.flatnonzero(counts):
                    parts.append(streams[k][ptr[k]:ptr[k] + counts[k]])
                    ptr[k] += counts[k]
                res = np.empty(n, np.int32)
                res[order] = np.concatenate(parts)
            else:
                k = med_id if kind == "med" else edge_id
                res = streams[k][ptr[k]:ptr[k] + n].astype(np.int32)
                ptr[k] += n
                a, b, c = canvas[:, y, x - 1], canvas[:, y - 1, x], canvas[:, y - 1, x - 1]
                pred = {"med": lambda: _med(a, b, c), "left": lambda: a, "up": lambda: b,
                        "first": lambda: 128}[kind]()
            canvas[:, y, x] = (pred + res) & 255
    if any(p != len(s) for p, s in zip(ptr, streams)):
        raise ValueError("residual streams have the wrong lengths")
    return canvas[:, _PAD:, _PAD:-_PAD].astype(np.uint8)
