"""The one place fer_tf looks for the model files it needs.

ImageNet weights of the ``keras.applications`` backbones, OpenCV's SSD face
detector files and dlib's landmark predictor are all found by
``find_model_file``, in this order:

1. a path the user gave; it must exist (a wrong explicit path is never
   silently replaced by another file);
2. the folder where the file is kept: the Keras cache for ImageNet weights
   (``$KERAS_HOME/models`` or ``~/.keras/models``, exactly where
   ``keras.utils.get_file`` stores them, so a file Keras fetched once is
   reused), ``<fer_tf home>/models/<subfolder>`` for everything else
   (``$FER_TF_HOME``, default ``~/.keras/fer_tf``);
3. copies shipped by installed packages (``face_recognition_models`` ships
   dlib's predictor);
4. for a file with a published URL, the standard Keras fetch
   (``keras.utils.get_file``) into that folder, unless downloads are off:
   ``offline=True``, or the environment variable ``FER_TF_OFFLINE=1`` (what
   ``--offline`` sets, and what the test suite always sets).

A file found nowhere raises ``MissingModelFileError`` with one line naming the
file, the folder to put it in and, where there is one, its URL.

The fer_tf home folder also holds the face-crop cache (``preprocess.cache``).
"""

import os
import pathlib
import tempfile

from fer_tf.errors import MissingModelFileError

OFFLINE_VARIABLE = "FER_TF_OFFLINE"
_TRUE = ("1", "true", "yes", "on")


def fer_tf_home():
    """The fer_tf home folder: ``$FER_TF_HOME`` or ``~/.keras/fer_tf``."""
    home = os.environ.get("FER_TF_HOME")
    if home:
        return pathlib.Path(home).expanduser()
    return pathlib.Path("~/.keras/fer_tf").expanduser()


def model_dir(subfolder=""):
    """``<fer_tf home>/models/<subfolder>`` (not created)."""
    return fer_tf_home() / "models" / subfolder


def keras_cache_dirs():
    """Folders where ``keras.utils.get_file(..., cache_subdir="models")`` keeps files.

    ``$KERAS_HOME`` if set, else ``~/.keras`` (``/tmp/.keras`` when the home
    folder is read-only), as in ``keras.config``; read at call time. When that
    folder is not writable ``get_file`` itself stores under ``/tmp/.keras``, so
    that folder is searched second.
    """
    base = os.environ.get("KERAS_HOME")
    if not base:
        home = os.path.expanduser("~")
        base = os.path.join(home if os.access(home, os.W_OK) else "/tmp", ".keras")
    base = os.path.expanduser(base)
    folders = [pathlib.Path(base) / "models"]
    if not os.access(base, os.W_OK):
        tmp_root = "/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir()
        fallback = pathlib.Path(tmp_root) / ".keras" / "models"
        if fallback not in folders:
            folders.append(fallback)
    return folders


def is_offline(offline=None):
    """``offline`` itself when given, else whether ``FER_TF_OFFLINE`` is set to 1/true/yes/on."""
    if offline is not None:
        return bool(offline)
    return os.environ.get(OFFLINE_VARIABLE, "").strip().lower() in _TRUE


def _one_line(text):
    return " ".join(str(text).split())


def find_model_file(what, filename, user_path=None, subfolder="", fallbacks=(),
                    how_to_get="", *, keras_cache=False, url=None, file_hash=None,
                    offline=None):
    """The path of a model file, found or fetched as the module docstring says.

    Args:
        what: str. human name used in errors ("SSD face detector weights").
        filename: str. the file's name in its folder (and on its server).
        user_path: optional str or path given by the user; it must exist.
        subfolder: str. folder under ``<fer_tf home>/models/`` (ignored with
            ``keras_cache``).
        fallbacks: iterable of further candidate paths (package copies);
            ``None`` entries are skipped.
        how_to_get: str. one sentence appended to errors: where the file comes from.
        keras_cache: bool. keep the file in the Keras cache folders (ImageNet
            weights) instead of the fer_tf home.
        url: str or None. where ``keras.utils.get_file`` may fetch the file.
        file_hash: str or None. its expected hash, checked by ``get_file``.
        offline: bool or None. never download; ``None`` reads ``FER_TF_OFFLINE``.

    Returns:
        pathlib.Path of an existing file.

    Raises:
        MissingModelFileError: absent (and not fetched), or the fetch failed.
    """
    hint = f" {_one_line(how_to_get)}" if how_to_get else ""
    if user_path is not None:
        path = pathlib.Path(os.fspath(user_path)).expanduser()
        if path.is_file():
            return path
        raise MissingModelFileError(f"{what}: no file at {path}.{hint}")
    folders = keras_cache_dirs() if keras_cache else [model_dir(subfolder)]
    candidates = [folder / filename for folder in folders]
    candidates += [pathlib.Path(p) for p in fallbacks if p]
    for path in candidates:
        if path.is_file():
            return path
    home_variable = "KERAS_HOME" if keras_cache else "FER_TF_HOME"
    place = (f"put {filename} in {folders[0]} (set {home_variable} to move that folder) "
             "or pass its path")
    searched = "".join(f"; also searched {p}" for p in candidates[1:])
    if url is None:
        raise MissingModelFileError(f"{what} not found: {place}{searched}.{hint}")
    if is_offline(offline):
        raise MissingModelFileError(
            f"{what} not found and downloads are off ({OFFLINE_VARIABLE}=1 or --offline): "
            f"{place}; it is published at {url}{searched}.{hint}")
    return _fetch(what, filename, folders[0], url, file_hash, place, hint)


def _fetch(what, filename, folder, url, file_hash, place, hint):
    """``keras.utils.get_file`` into ``folder``, as ``keras.applications`` does."""
    import keras

    try:
        # cache_dir and cache_subdir spelled out, so the file lands in the folder
        # searched above even when $KERAS_HOME changed after Keras was imported.
        fetched = keras.utils.get_file(filename, origin=url, cache_dir=str(folder.parent),
                                       cache_subdir=folder.name, file_hash=file_hash)
    except Exception as error:  # get_file raises bare Exceptions for HTTP/URL errors
        raise MissingModelFileError(
            f"{what}: downloading {url} failed ({_one_line(error)}); {place}.{hint}"
        ) from error
    path = pathlib.Path(fetched)
    if not path.is_file():
        raise MissingModelFileError(f"{what}: keras.utils.get_file returned {path}, "
                                    f"which is not a file; {place}.{hint}")
    return path
