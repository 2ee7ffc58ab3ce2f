"""Crash-safe file writes shared by run folders, caches and dataset writers.

Everything is written to a temporary file in the destination's folder and
moved into place with `os.replace` (atomic on POSIX and Windows), so a crash
or a kill leaves the old file or the new one, never half of one. A finished
file gets the mode a plain `open` would give it (0o666 less the umask), not
the private 0o600 of the temporary file.

Outputs written into a user's folder (`fer-tf predict --out`, `fer-tf
gradcam --out`) go through `OwnedOutputs`: the folder's `OUTPUTS_MANIFEST`
lists each file fer_tf wrote there with its size and modification time, and
only a file still matching its entry may be replaced later; any other file
of the same name is never touched.
"""

import contextlib
import hashlib
import json
import os
import pathlib
import re
import shutil
import tempfile

import numpy as np

from fer_tf.errors import ConfigError

#: The list of files fer_tf wrote in an output folder (`OwnedOutputs`).
OUTPUTS_MANIFEST = ".fer-tf-outputs"
_MANIFEST_MARK = "# fer_tf outputs:"
_MANIFEST_HEADER = (f"{_MANIFEST_MARK} files of this folder written by fer-tf (name, size, "
                    "mtime_ns); a later fer-tf run may replace these and no others.\n")


def current_umask():
    """The process umask, read without changing it where /proc allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def publish(tmp, path, replace=True):
    """Moves the finished file `tmp` to `path`. With `replace` False an
    existing `path` is never replaced (FileExistsError): the file is linked
    into place, which fails when the name is taken."""
    if replace:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links
        if os.path.lexists(path):
            raise FileExistsError(path) from None
        os.replace(tmp, path)
        return
    os.remove(tmp)


@contextlib.contextmanager
def atomic_open(path, mode="w", opener=open, replace=True, **kwargs):
    """Opens a temporary file that replaces `path` when the block succeeds.

    Args:
        path: destination file.
        mode: a write mode of `opener` ("w", "wb", "wt", ...).
        opener: `open`, `gzip.open`, `lzma.open`, ... (streams written through
            a compressor are atomic too).
        replace: bool. False: raise FileExistsError rather than replace an
            existing `path` (checked atomically at the end).
        **kwargs: passed to `opener` (encoding, newline, ...).
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix="-" + os.path.basename(path))
    os.close(fd)
    try:
        with opener(tmp, mode, **kwargs) as f:
            yield f
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        # mkstemp makes the file private (0o600); a plain open would not.
        os.chmod(tmp, 0o666 & ~current_umask())
        publish(tmp, path, replace)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_bytes(path, data, replace=True):
    with atomic_open(path, "wb", replace=replace) as f:
        f.write(data)


def atomic_write_text(path, text):
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(text)


def json_default(value):
    """`json.dumps(default=...)` hook for NumPy scalars/arrays, paths and sets."""
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, pathlib.PurePath):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def atomic_write_json(path, obj):
    atomic_write_text(path, json.dumps(obj, indent=2, default=json_default) + "\n")


def file_sha256(path):
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def clear_folder(folder, keep=(), last=None):
    """Deletes every entry of `folder` (files, links, sub-folders) but those
    named in `keep`; the entry named `last` goes last, so a kill midway leaves
    whatever marks the folder as the package's (a manifest) in place."""
    entries = sorted((e for e in os.listdir(folder) if e not in keep), key=lambda e: e == last)
    for entry in entries:
        path = os.path.join(folder, entry)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)


# ----------------------------------------------------------------------------- temporaries

def process_alive(pid):
    """False only when no process `pid` exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: it exists, owned by another user
        return True
    return True


def pid_temp_name(name):
    """The stem of a temporary for `name` that names its owner:
    `<name>.tmp-<pid>-` (a random part follows)."""
    return f"{name}.tmp-{os.getpid()}-"


def remove_abandoned_temps(folder, name):
    """Deletes `<name>.tmp-<pid>-<random>[.ext]` files and folders in `folder`
    whose process is gone (a SIGKILLed writer's leftovers); anything else,
    and temporaries of live processes, are left alone. Returns what went."""
    pattern = re.compile(re.escape(name) + r"\.tmp-(\d+)-[A-Za-z0-9_]{6,}(\.[A-Za-z0-9]+)?")
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if not match or entry.is_symlink() or process_alive(int(match.group(1))):
            continue
        try:
            if entry.is_dir():
                shutil.rmtree(entry.path)
            else:
                os.remove(entry.path)
        except OSError:
            continue
        removed.append(entry.path)
    return removed


# ----------------------------------------------------------------------------- owned outputs

class OwnedOutputs:
    """The files fer_tf wrote in `folder`, as its `OUTPUTS_MANIFEST` lists them.

    A listed file may be replaced by a later run only while its size and
    modification time still match the entry (a file the user has since
    replaced or edited is theirs again). Entries are appended one line each,
    after the file is in place, so a killed writer leaves at worst an
    unlisted file, which is then treated as the user's.

    Args:
        folder: the output folder (see `prepare_output_folder`).
    """

    def __init__(self, folder):
        self.folder = pathlib.Path(folder)
        self.manifest = self.folder / OUTPUTS_MANIFEST
        self.entries = self._read()

    def _read(self):
        try:
            with open(self.manifest, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{self.manifest}: cannot read fer-tf's list of its outputs "
                              f"({e}).") from None
        if not lines or not lines[0].startswith(_MANIFEST_MARK):
            raise ConfigError(f"{self.manifest}: exists but is not fer-tf's list of the "
                              "outputs it wrote; move it away or choose another output "
                              "folder.")
        entries = {}
        for line in lines[1:]:
            parts = line.rsplit("\t", 2)
            if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                entries[parts[0]] = (int(parts[1]), int(parts[2]))
        return entries

    def owns(self, name):
        """True when `name` is a file fer_tf wrote here and nobody changed since."""
        if name not in self.entries:
            return False
        try:
            st = os.lstat(self.folder / name)
        except OSError:
            return False
        return (st.st_size, st.st_mtime_ns) == self.entries[name]

    def available(self, name):
        """True when writing `name` replaces nothing but fer_tf's own output."""
        return not os.path.lexists(self.folder / name) or self.owns(name)

    def free_name(self, stem, suffix, taken=()):
        """`<stem><suffix>`, else `<stem>-1<suffix>`, ...: the first name that is
        not in `taken` and holds no file but fer_tf's own."""
        n, name = 0, f"{stem}{suffix}"
        while name in taken or not self.available(name):
            n += 1
            name = f"{stem}-{n}{suffix}"
        return name

    def record(self, name):
        """Lists the file `name`, just put in place, as fer_tf's (a name with a
        tab or line break is not listed, so it stays the user's)."""
        if "\t" in name or "\n" in name or "\r" in name:
            return
        st = os.lstat(self.folder / name)
        self.entries[name] = (st.st_size, st.st_mtime_ns)
        fd = os.open(self.manifest, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            text = ("" if os.fstat(fd).st_size else _MANIFEST_HEADER) + \
                f"{name}\t{st.st_size}\t{st.st_mtime_ns}\n"
            os.write(fd, text.encode("utf-8"))
        finally:
            os.close(fd)

    def publish(self, tmp, name):
        """Moves the finished temporary `tmp` to `name` and lists it; refuses
        (ConfigError) when `name` became someone else's file meanwhile."""
        try:
            publish(tmp, self.folder / name, replace=self.owns(name))
            self.record(name)
        except FileExistsError:
            raise ConfigError(f"{self.folder / name}: appeared while fer-tf was writing it "
                              "and was not written by fer-tf; left as it is.") from None
        except OSError as e:
            raise ConfigError(f"{self.folder / name}: cannot write it ({e.strerror or e})."
                              ) from None

    def write_bytes(self, name, data):
        """Writes `name` atomically, unless it is a file fer_tf did not write."""
        path = self.folder / name
        try:
            atomic_write_bytes(path, data, replace=self.owns(name))
            self.record(name)
        except FileExistsError:
            raise ConfigError(f"{path}: exists and was not written by fer-tf; refusing to "
                              "replace it.") from None
        except OSError as e:
            raise ConfigError(f"{path}: cannot write it ({e.strerror or e}).") from None


def prepare_output_folder(folder, what="--out"):
    """Creates `folder` if needed and checks fer_tf can write there; one
    ConfigError line otherwise (a file in the way, no permission, ...)."""
    folder = pathlib.Path(folder)
    if os.path.lexists(folder) and not folder.is_dir():
        raise ConfigError(f"{what} {folder}: exists and is not a folder; expected a folder "
                          "for the outputs.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".tmp-probe-")
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise ConfigError(f"{what} {folder}: cannot write there ({e.strerror or e}); expected "
                          "a writable folder.") from None
    return OwnedOutputs(folder)


def check_output_file(path, suffix, what="--out"):
    """`OwnedOutputs` of the folder of the file `path` fer_tf is about to
    write: refuses (one ConfigError line) a name without `suffix`, a folder,
    a file fer_tf did not write, or a folder it cannot write."""
    path = pathlib.Path(path)
    if path.suffix.lower() != suffix:
        raise ConfigError(f"{what} {path}: expected a {suffix} file name.")
    if path.is_dir():
        raise ConfigError(f"{what} {path}: is a folder; expected a {suffix} file name.")
    # A folder that does not exist yet is made by the write, not before it:
    # a run that fails first leaves nothing behind.
    owned = prepare_output_folder(path.parent, what) if path.parent.is_dir() \
        else OwnedOutputs(path.parent)
    if not owned.available(path.name):
        raise ConfigError(f"{what} {path}: exists and was not written by fer-tf; refusing "
                          "to replace it (choose another name).")
    return owned
