"""Where fer_tf looks for detector and predictor files it may not download.

Search order for every file: an explicit path given by the user, then the
fer_tf home folder (`$FER_TF_HOME`, default `~/.keras/fer_tf`) under
`models/<subfolder>/`, then any package that ships the file (such as
face_recognition_models for dlib's predictor). A file found nowhere raises
`MissingModelFileError` listing every place that was tried.
"""

import os
import pathlib

from fer_tf.errors import MissingModelFileError


def fer_tf_home():
    """Returns the fer_tf home folder: `$FER_TF_HOME` or `~/.keras/fer_tf`."""
    home = os.environ.get("FER_TF_HOME")
    if home:
        return pathlib.Path(home).expanduser()
    return pathlib.Path("~/.keras/fer_tf").expanduser()


def model_dir(subfolder=""):
    """Returns `<fer_tf home>/models/<subfolder>` (not created)."""
    return fer_tf_home() / "models" / subfolder


def find_model_file(what, filename, user_path=None, subfolder="",
                    fallbacks=(), how_to_get=""):
    """Returns the first existing candidate path for a model file.

    Args:
        what: str. human name used in the error ("SSD face detector weights").
        filename: str. the file's canonical name, looked up in the model dir.
        user_path: optional str or path given by the user; if given it must
            exist (a wrong explicit path is never silently replaced).
        subfolder: str. folder under `<fer_tf home>/models/`.
        fallbacks: iterable of further candidate paths (package copies).
        how_to_get: str. appended to the error: where the file comes from.
    """
    if user_path is not None:
        path = pathlib.Path(user_path).expanduser()
        if path.is_file():
            return path
        raise MissingModelFileError(
            f"{what}: no file at {path}. {how_to_get}".strip())
    candidates = [model_dir(subfolder) / filename]
    candidates += [pathlib.Path(p) for p in fallbacks if p]
    for path in candidates:
        if path.is_file():
            return path
    tried = "\n  ".join(str(p) for p in candidates)
    raise MissingModelFileError(
        f"{what} not found. Put {filename} in {model_dir(subfolder)} "
        f"(set FER_TF_HOME to move that folder) or pass its path explicitly. "
        f"Looked in:\n  {tried}\n{how_to_get}".strip())
