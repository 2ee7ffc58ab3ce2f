"""Keras callbacks the crash-and-resume tests share: a crash after a chosen
epoch and a record of the epochs a (resumed) run begins."""

import keras


class Crash(Exception):
    """What `CrashAfterEpoch` raises: a kill, as far as the run can tell."""


class CrashAfterEpoch(keras.callbacks.Callback):
    """Raises `Crash` at the end of epoch `epoch` (0-based), after the
    package's own callbacks (checkpoint, backup) have run."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise Crash()


class EpochRecorder(keras.callbacks.Callback):
    """The 0-based epochs that began, in order."""

    def __init__(self):
        super().__init__()
        self.begun = []

    def on_epoch_begin(self, epoch, logs=None):
        self.begun.append(epoch)
