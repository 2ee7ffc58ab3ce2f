"""FER2013 (Goodfellow et al. 2013): the Kaggle csv and the image-folder copy.

The csv has one row per face: `emotion` (0-6, `labels.FER2013_CLASSES`
order), `pixels` (2,304 space-separated 0-255 values of a 48x48 grayscale
image) and `Usage` (Training / PublicTest / PrivateTest), which becomes
`Records.split`. EfficientNet-B0 paper Sec. IV-A; CAMnet thesis Sec. 3.1.
"""

import gzip
import lzma
import os
import queue
import threading
import zlib

import numpy as np

from fer_tf.data import labels as L
from fer_tf.data.pixels import as_rgb
from fer_tf.data.readers import _common as C
from fer_tf.data.records import Records
from fer_tf.errors import DatasetError

EXPECTED_HEADER = ("emotion", "pixels", "Usage")
USAGES = ("Training", "PublicTest", "PrivateTest")
IMAGE_SIDE = 48
NUM_PIXELS = IMAGE_SIDE * IMAGE_SIDE
CSV_NAMES = ("fer2013.csv", "icml_face_data.csv")
#: The lossless pack of `fer_tf.data.fer2013_pack` (`fer-tf data pack-fer2013`).
PACK_NAME = "fer2013.pack"
COMPRESSED_SUFFIXES = ("", ".xz", ".gz")
#: Rows parsed per vectorised np.fromstring call.
CHUNK_ROWS = 2048
_SPLIT_FOLDERS = {"train": "Training", "training": "Training",
                  "val": "PublicTest", "valid": "PublicTest",
                  "validation": "PublicTest", "publictest": "PublicTest",
                  "test": "PrivateTest", "privatetest": "PrivateTest"}
#: Said of every run trained on the folder copy: its split names are a choice.
FOLDER_TEST_NOTE = ("FER2013 image-folder copy: test/ is taken as the PrivateTest split; "
                    "this copy has no separate PublicTest (the Kaggle folder release "
                    "merges PublicTest and PrivateTest into test/, 7,178 images).")
_LAYOUTS = ("fer2013.csv (or .csv.xz/.csv.gz) with header emotion,pixels,Usage, "
            "a fer2013.pack (`fer-tf data pack-fer2013`), "
            "or train/<class>/*.png and test/<class>/*.png folders")


def find_csv(data_dir):
    """Returns the FER2013 csv (or pack) inside `data_dir` (or `data_dir`
    itself), or None."""
    if os.path.isfile(data_dir):
        return data_dir
    for folder in (data_dir, os.path.join(data_dir, "fer2013")):
        if os.path.isfile(os.path.join(folder, PACK_NAME)):
            return os.path.join(folder, PACK_NAME)
        for name in CSV_NAMES:
            for suffix in COMPRESSED_SUFFIXES:
                path = os.path.join(folder, name + suffix)
                if os.path.isfile(path):
                    return path
    return None


def _open_binary(path):
    if path.endswith(".xz"):
        return lzma.open(path, "rb")
    if path.endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")


def _iter_lines(path, block_size=1 << 23):
    """Yields the byte lines of `path`, decompressing in a background thread.

    lzma/zlib release the GIL, so decompressing the next block overlaps
    with parsing the current one (the .xz file is ~300 MB of text).
    """
    blocks = queue.Queue(maxsize=4)
    stop = threading.Event()

    def produce():
        try:
            with _open_binary(path) as f:
                while not stop.is_set():
                    block = f.read(block_size)
                    blocks.put(block)
                    if not block:
                        return
        except BaseException as e:  # handed to the consumer, re-raised there
            blocks.put(e)

    worker = threading.Thread(target=produce, daemon=True)
    worker.start()
    tail = b""
    try:
        while True:
            block = blocks.get()
            if isinstance(block, BaseException):
                raise block
            if not block:
                break
            lines = (tail + block).split(b"\n")
            tail = lines.pop()
            yield from lines
        if tail:
            yield tail
    finally:
        stop.set()
        while worker.is_alive():
            try:
                blocks.get(timeout=0.1)
            except queue.Empty:
                pass


def _parse_header(line, path):
    found = line.decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r\n")
    columns = [c.strip() for c in found.split(",")]
    lowered = [c.lower() for c in columns]
    if sorted(lowered) != sorted(c.lower() for c in EXPECTED_HEADER):
        raise DatasetError(f"fer2013: {path} has header {found!r}; expected "
                           f"{','.join(EXPECTED_HEADER)!r} (the Kaggle fer2013.csv).")
    # icml_face_data.csv stores the same columns in another order.
    return [lowered.index(c.lower()) for c in EXPECTED_HEADER]


def _row_pixels(text, lineno, path):
    """Slow, exact check of one row, used to name the line of a bad chunk."""
    tokens = text.split()
    if len(tokens) != NUM_PIXELS:
        raise DatasetError(f"fer2013: {path} line {lineno}: {len(tokens)} pixel values; "
                           f"expected {NUM_PIXELS} (48x48).")
    for t in tokens:
        if not t.isdigit() or int(t) > 255:
            raise DatasetError(f"fer2013: {path} line {lineno}: pixel value "
                               f"{t.decode(errors='replace')!r} is not an integer in 0-255.")


def _parse_chunk(texts, linenos, path):
    """Vectorised parse of many pixel strings -> uint8 (n, 48, 48)."""
    try:
        values = np.fromstring(b" ".join(texts), dtype=np.int32, sep=" ")
    except ValueError:
        values = None
    if (values is None or values.size != len(texts) * NUM_PIXELS
            or values.min() < 0 or values.max() > 255):
        for text, lineno in zip(texts, linenos):
            _row_pixels(text, lineno, path)
        raise DatasetError(f"fer2013: {path} lines {linenos[0]}-{linenos[-1]}: "
                           "pixels could not be parsed.")
    return values.astype(np.uint8).reshape(len(texts), IMAGE_SIDE, IMAGE_SIDE)


def _field(raw):
    return raw.strip().decode("utf-8", errors="replace")


def is_pack_path(path):
    """True for a `fer2013_pack` file: its suffix or its magic bytes."""
    from fer_tf.data import fer2013_pack
    return path.endswith(fer2013_pack.SUFFIX) or fer2013_pack.is_pack(path)


def read_csv(path, show_progress=True):
    """Parses a FER2013 csv (plain, .xz or .gz), or decodes a pack of one
    (`fer_tf.data.fer2013_pack`, checked against its stored SHA-256).

    Returns:
        (images uint8 (N, 48, 48), labels int64 (N,), usage str (N,),
        line numbers int (N,)).
    """
    if is_pack_path(path):
        from fer_tf.data.fer2013_pack import read_pack
        return read_pack(path)
    labels, usages, linenos, blocks = [], [], [], []
    texts, chunk_lines = [], []
    usage_bytes = {u.encode(): u for u in USAGES}
    num_codes = len(L.FER2013_CLASSES)
    lines = _iter_lines(path)
    try:
        header = next(lines, b"")
        if not header.strip():
            raise DatasetError(f"fer2013: {path} is empty; expected a header "
                               f"{','.join(EXPECTED_HEADER)!r} and one row per image.")
        i_emotion, i_pixels, i_usage = _parse_header(header, path)
        rows = C.progress(lines, f"reading {os.path.basename(path)}", show_progress,
                          unit="rows")
        for lineno, line in enumerate(rows, start=2):
            parts = line.split(b",")
            if len(parts) != 3:
                if not line.strip():
                    continue
                raise DatasetError(f"fer2013: {path} line {lineno}: {len(parts)} "
                                   "comma-separated fields; expected 3 "
                                   f"({','.join(EXPECTED_HEADER)}).")
            emotion = parts[i_emotion].strip()
            if not emotion.isdigit() or int(emotion) >= num_codes:
                raise DatasetError(f"fer2013: {path} line {lineno}: label "
                                   f"{_field(emotion)!r} is not an emotion code 0-6 "
                                   f"({', '.join(L.FER2013_CLASSES)}).")
            usage = usage_bytes.get(parts[i_usage].strip())
            if usage is None:
                raise DatasetError(f"fer2013: {path} line {lineno}: Usage "
                                   f"{_field(parts[i_usage])!r}; expected one of "
                                   f"{list(USAGES)}.")
            pixels = parts[i_pixels].strip()
            # Counting separators is far cheaper than splitting each row.
            if pixels.count(b" ") != NUM_PIXELS - 1:
                _row_pixels(pixels, lineno, path)
            labels.append(int(emotion))
            usages.append(usage)
            linenos.append(lineno)
            texts.append(pixels)
            chunk_lines.append(lineno)
            if len(texts) == CHUNK_ROWS:
                blocks.append(_parse_chunk(texts, chunk_lines, path))
                texts, chunk_lines = [], []
    except (lzma.LZMAError, zlib.error, EOFError, OSError) as e:
        raise DatasetError(f"fer2013: cannot read {path}: {e}; expected a text csv "
                           "(optionally .xz or .gz compressed).") from e
    finally:
        lines.close()  # stops the decompressing thread early on an error
    if texts:
        blocks.append(_parse_chunk(texts, chunk_lines, path))
    if not labels:
        raise DatasetError(f"fer2013: {path} has a header but no rows.")
    return (np.concatenate(blocks), np.asarray(labels, np.int64),
            np.asarray(usages), np.asarray(linenos))


def _split_folders(root):
    found = {}
    for entry in C.list_dir(root):
        split = _SPLIT_FOLDERS.get(entry.lower())
        if split and os.path.isdir(os.path.join(root, entry)):
            found[entry] = split
    return found


def split_notes(data_dir):
    """Notes a run's config should carry about how `data_dir`'s splits were
    named: [FOLDER_TEST_NOTE] for the image-folder copy without a validation
    folder, else []."""
    data_dir = os.fspath(data_dir)
    if find_csv(data_dir) is not None or not os.path.isdir(data_dir):
        return []
    return [] if "PublicTest" in _split_folders(data_dir).values() else [FOLDER_TEST_NOTE]


def _read_folders(root, channels, size, show_progress, transform):
    folders = _split_folders(root)
    paths, labels, splits = [], [], []
    for entry, split in sorted(folders.items()):
        split_dir = os.path.join(root, entry)
        for class_entry in C.list_dir(split_dir):
            class_dir = os.path.join(split_dir, class_entry)
            if not os.path.isdir(class_dir):
                continue
            label = L.FER2013_CLASSES.index(
                C.class_from_folder(class_dir, "fer2013", L.FER2013_CLASSES))
            files = sorted(C.image_files_in(class_dir, "fer2013"), key=C.natural_key)
            paths += files
            labels += [label] * len(files)
            splits += [split] * len(files)
    if not paths:
        raise DatasetError(f"fer2013: no images in {root}; expected {_LAYOUTS}.")
    images, _ = C.load_images(paths, channels, size, "fer2013", show_progress,
                              transform=transform)
    return Records(images=images, labels=labels, class_names=L.FER2013_CLASSES,
                   split=splits, sources=paths, name="fer2013")


def read_fer2013(data_dir, channels=1, size=None, check_counts=True, show_progress=True,
                 transform=None):
    """Reads FER2013 from the Kaggle csv or from train/test class folders.

    Args:
        data_dir: the csv file (`.csv`, `.csv.xz`, `.csv.gz`), its lossless
            pack (`fer2013.pack`, `fer_tf.data.fer2013_pack`), a folder
            holding either (also under `fer2013/`), or a folder
            with `train/<class>/` and `test/<class>/` (class folders angry,
            disgust, fear, happy, neutral, sad, surprise).
        channels: 1 for (N, 48, 48, 1) grayscale, 3 to repeat it as RGB.
        size: optional int or (height, width) to resize to (cv2.INTER_AREA),
            or "common" (folder copies: resize odd-sized files to the most
            common size).
        check_counts: warn (`DatasetCountWarning`) when the counts differ from
            the published 28,709 / 3,589 / 3,589.
        show_progress: show a tqdm bar.
        transform: optional per-image hook `transform(image, source,
            landmarks) -> (image, landmarks)` run on each image (see
            `_common.load_images`), e.g. a face crop to the model's input.

    Returns:
        Records with `split` = Usage ("Training", "PublicTest",
        "PrivateTest"; the folder copy's train/ is "Training", its val/ (if
        any) "PublicTest" and its test/ "PrivateTest", see `split_notes`), no
        subjects (FER2013 has none) and `sources` = "file:line" or the path.
    """
    data_dir = os.fspath(data_dir)
    if not os.path.exists(data_dir):
        raise DatasetError(f"fer2013: {data_dir} does not exist; expected {_LAYOUTS}.")
    C.check_channels(channels, "fer2013")
    csv_path = find_csv(data_dir)
    if csv_path is None:
        if not _split_folders(data_dir):
            raise DatasetError(f"fer2013: found neither fer2013.csv nor train/ and test/ "
                               f"folders in {data_dir}; expected {_LAYOUTS}.")
        records = _read_folders(data_dir, channels, size, show_progress, transform)
        return C.finish(records, check_counts, data_dir)
    size = C.normalise_size(size, "fer2013")
    images, labels, usages, linenos = read_csv(csv_path, show_progress)
    name = os.path.basename(csv_path)
    sources = np.char.add(f"{name}:", linenos.astype(str))
    images = images[..., None]
    if channels == 3:
        images = as_rgb(images)
    if transform is not None:
        images = np.stack([transform(im, src, None)[0] for im, src in zip(
            C.progress(images, "faces in fer2013", show_progress), sources)])
    if size not in (None, C.COMMON_SIZE, images.shape[1:3]):  # rows share one size
        images = np.stack([C.resize(im, size) for im in
                           C.progress(images, "resizing fer2013", show_progress)])
    records = Records(images=images, labels=labels, class_names=L.FER2013_CLASSES,
                      split=usages, sources=sources, name="fer2013")
    return C.finish(records, check_counts, csv_path)
