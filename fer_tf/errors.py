"""Exceptions a user can cause. The CLI prints their message, never a traceback."""


class FerTfError(Exception):
    """Base class of every error caused by user input (files, names, options)."""


class DatasetError(FerTfError):
    """A dataset folder, file or label does not match its published layout."""


class FaceNotFoundError(FerTfError):
    """No face could be found where the protocol needs one."""


class ConfigError(FerTfError):
    """An option, model name or run folder is not what was expected."""


class MissingModelFileError(FerTfError):
    """A detector/predictor/weights file that cannot be downloaded is absent."""
