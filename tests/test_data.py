"""Dataset registry: every format read from small files written here in its exact layout."""
from __future__ import annotations

import gzip
import hashlib
import pickle
import tarfile
import struct
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from eqnas.data import dataset_info, dataset_names, load_dataset, register_dataset
from eqnas.data import network
from eqnas.data.idx import parse_idx
from eqnas.data.rotate import rotate_images
from eqnas.errors import EqnasError

NEEDS_FILES = [n for n in dataset_names() if n != "synthetic"]


# ---- writers for the on-disk formats ---------------------------------------------------------

def write_idx(path: Path, array: np.ndarray, gz: bool = True) -> None:
    code = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}[array.dtype]
    data = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data += array.tobytes()
    path.write_bytes(gzip.compress(data, compresslevel=1) if gz else data)


def indexed_images(n: int, size: int = 28) -> np.ndarray:
    """uint8 [n, size, size] whose first two pixels spell the index, plus a bright blob off-centre
    so that a rotation visibly moves it."""
    images = np.zeros((n, size, size), np.uint8)
    images[:, 0, 0], images[:, 0, 1] = np.arange(n) % 256, np.arange(n) // 256
    images[:, 4:10, 12:16] = 200
    return images


def image_index(images: torch.Tensor) -> set[int]:
    return set((images[:, 0, 0, 0].long() + 256 * images[:, 0, 0, 1].long()).tolist())


def write_fashion(folder: Path, n_train: int = 200, n_test: int = 50, gz: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    write_idx(folder / f"train-images-idx3-ubyte{suffix}", indexed_images(n_train), gz)
    write_idx(folder / f"train-labels-idx1-ubyte{suffix}", (np.arange(n_train) % 10).astype(np.uint8), gz)
    write_idx(folder / f"t10k-images-idx3-ubyte{suffix}", indexed_images(n_test), gz)
    write_idx(folder / f"t10k-labels-idx1-ubyte{suffix}", (np.arange(n_test) % 10).astype(np.uint8), gz)


def medmnist_arrays(n: dict[str, int], size: int, channels: int, label_width: int, classes: int,
                    with_val: bool = True) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {}
    for split, count in n.items():
        if split == "val" and not with_val:
            continue
        shape = (count, size, size) if channels == 1 else (count, size, size, channels)
        arrays[f"{split}_images"] = rng.integers(0, 256, shape, dtype=np.uint8)
        if label_width > 1:
            arrays[f"{split}_labels"] = rng.integers(0, 2, (count, label_width), dtype=np.uint8)
        else:
            arrays[f"{split}_labels"] = (np.arange(count) % classes).astype(np.uint8)[:, None]
    return arrays


SPLIT_SIZES = {"train": 40, "val": 10, "test": 20}


def write_cifar(folder: Path, per_batch: int = 20) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                 b"labels": list(rng.integers(0, 10, per_batch))}
        with (folder / name).open("wb") as f:
            pickle.dump(batch, f)


def assert_images(splits, channels: int, size: int) -> None:
    for split in (splits.train, splits.val, splits.test):
        image, _ = split[0]
        assert image.dtype == torch.float32 and image.shape == (channels, size, size)
        assert 0.0 <= image.min() and image.max() <= 1.0
    assert splits.info.channels == channels and splits.info.resolution == size


# ---- registry --------------------------------------------------------------------------------

def test_unknown_name_lists_valid_names():
    with pytest.raises(EqnasError, match="unknown dataset 'nope'.*fashion-mnist.*synthetic.*npz:PATH"):
        load_dataset("nope")


def test_registry_refuses_duplicates():
    with pytest.raises(ValueError, match="registered twice"):
        register_dataset("synthetic")(lambda: None)


@pytest.mark.parametrize("kwargs, bad", [({"val_fraction": 0.0}, "val_fraction"), ({"resolution": 0}, "resolution"),
                                         ({"seed": -1}, "seed")])
def test_bad_arguments(kwargs, bad):
    with pytest.raises(EqnasError, match=bad):
        load_dataset("synthetic", **kwargs)


@pytest.mark.parametrize("name", dataset_names())
def test_info_needs_no_data(name, tmp_path):
    info = dataset_info(name, root=tmp_path)
    assert info.name == name and info.channels in (1, 3) and info.num_classes >= 2
    assert dataset_info(name, root=tmp_path, resolution=40).resolution == 40


@pytest.mark.parametrize("name", NEEDS_FILES)
def test_missing_offline_fails_fast_naming_the_path(name, tmp_path, monkeypatch):
    monkeypatch.setattr(network, "network_available", lambda host, timeout=0.5, port=443: False)
    root = tmp_path / "empty"
    start = time.perf_counter()
    with pytest.raises(EqnasError) as err:
        load_dataset(name, root=root)
    assert time.perf_counter() - start < 1.0
    assert str(root) in str(err.value) and "--data-root" in str(err.value) and repr(name) in str(err.value)


def test_network_probe_is_bounded():
    start = time.perf_counter()
    assert not network.network_available("192.0.2.1", timeout=0.2)  # TEST-NET-1: never answers
    assert not network.network_available("host.invalid", timeout=0.2)
    assert time.perf_counter() - start < 1.0


def test_download_checks_md5_and_leaves_nothing_on_failure(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"payload")
    good = hashlib.md5(b"payload").hexdigest()
    assert network.download(src.as_uri(), tmp_path / "out" / "a.bin", md5=good).read_bytes() == b"payload"
    with pytest.raises(EqnasError, match="does not match"):
        network.download(src.as_uri(), tmp_path / "out" / "b.bin", md5="0" * 32)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.bin"]


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_fashion_mnist_downloads_where_networked(tmp_path, monkeypatch):
    from eqnas.data import fashion_mnist

    mirror = tmp_path / "mirror"
    write_fashion(mirror)
    monkeypatch.setattr(network, "network_available", lambda host, timeout=0.5, port=443: True)
    monkeypatch.setattr(fashion_mnist, "BASE_URL", mirror.as_uri() + "/")
    monkeypatch.setattr(fashion_mnist, "MD5", {p.name[:-3]: md5_of(p) for p in sorted(mirror.iterdir())})
    splits = load_dataset("fashion-mnist", root=tmp_path / "data")
    assert len(splits.test) == 50 and (tmp_path / "data" / "t10k-images-idx3-ubyte.gz").is_file()


def test_cifar10_downloads_and_unpacks_where_networked(tmp_path, monkeypatch):
    from eqnas.data import cifar

    write_cifar(tmp_path / "build" / "cifar-10-batches-py")
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "build" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    monkeypatch.setattr(network, "network_available", lambda host, timeout=0.5, port=443: True)
    monkeypatch.setattr(cifar, "URL", archive.as_uri())
    monkeypatch.setattr(cifar, "ARCHIVE_MD5", md5_of(archive))
    splits = load_dataset("cifar10", root=tmp_path / "data")
    assert len(splits.train) + len(splits.val) == 100
    assert not (tmp_path / "data" / "cifar-10-python.tar.gz").exists()


# ---- fashion-mnist ---------------------------------------------------------------------------

def test_idx_parser_round_trip_and_bad_header():
    array = np.arange(24, dtype=">i4").reshape(2, 3, 4)
    data = struct.pack(">BBBB", 0, 0, 0x0C, 3) + struct.pack(">3I", 2, 3, 4) + array.tobytes()
    parsed = parse_idx(data)
    assert parsed.shape == (2, 3, 4) and parsed.dtype == np.int32 and (parsed == array).all()
    with pytest.raises(EqnasError, match="not an idx file"):
        parse_idx(b"\x01\x02\x03\x04")
    with pytest.raises(EqnasError, match="bytes follow"):
        parse_idx(data[:-1])


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_from_idx(tmp_path, gz):
    write_fashion(tmp_path, gz=gz)
    splits = load_dataset("fashion-mnist", root=tmp_path)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (180, 20, 50)
    assert_images(splits, channels=1, size=28)
    assert splits.info.num_classes == 10 and splits.info.task == "multiclass"
    _, target = splits.train[0]
    assert target.dtype == torch.long and target.ndim == 0


def test_carved_val_is_seeded_deterministic_and_disjoint(tmp_path):
    write_fashion(tmp_path)
    a, b = (load_dataset("fashion-mnist", root=tmp_path, seed=3) for _ in range(2))
    train, val = image_index(a.train.images), image_index(a.val.images)
    assert not train & val and train | val == set(range(200))
    assert torch.equal(a.val.images, b.val.images) and torch.equal(a.train.targets, b.train.targets)
    other = load_dataset("fashion-mnist", root=tmp_path, seed=4)
    assert image_index(other.val.images) != val


def test_fashion_mnist_rot_is_deterministic_and_rotated(tmp_path):
    write_fashion(tmp_path)
    plain = load_dataset("fashion-mnist", root=tmp_path)
    rot, again = (load_dataset("fashion-mnist-rot", root=tmp_path) for _ in range(2))
    other_seed = load_dataset("fashion-mnist-rot", root=tmp_path, seed=1)
    for split in ("train", "val", "test"):
        r, p = getattr(rot, split), getattr(plain, split)
        assert torch.equal(r.images, getattr(again, split).images)
        assert torch.equal(r.targets, p.targets)
        # the blob moved in (nearly) every image, and mass is roughly kept (it stays in frame)
        moved = (r.images[:, :, 4:10, 12:16].float().mean((1, 2, 3)) < 150).float().mean()
        assert moved > 0.8
    assert not torch.equal(rot.test.images, other_seed.test.images)
    assert rot.info.name == "fashion-mnist-rot"


def test_rotation_matches_rot90_at_right_angles():
    x = torch.rand(3, 2, 9, 9)
    turned = rotate_images(x, torch.tensor([90.0, 180.0, 270.0]))
    for i in range(3):
        assert torch.allclose(turned[i], torch.rot90(x[i], i + 1, (-2, -1)), atol=1e-5)


def test_resolution_resizes_once_at_load(tmp_path):
    write_fashion(tmp_path)
    splits = load_dataset("fashion-mnist", root=tmp_path, resolution=14)
    assert_images(splits, channels=1, size=14)
    assert splits.train.images.shape[-2:] == (14, 14)


def test_real_debian_fashion_mnist():
    if not Path("/usr/share/datasets/fashion-mnist").is_dir():
        pytest.skip("dataset-fashion-mnist is not installed")
    splits = load_dataset("fashion-mnist")
    assert (len(splits.train), len(splits.val), len(splits.test)) == (54000, 6000, 10000)
    assert set(splits.test.targets.unique().tolist()) == set(range(10))


# ---- MedMNIST and npz:PATH -------------------------------------------------------------------

def test_chestmnist_is_multilabel(tmp_path):
    np.savez(tmp_path / "chestmnist.npz", **medmnist_arrays(SPLIT_SIZES, 28, 1, 14, 2))
    splits = load_dataset("chestmnist", root=tmp_path)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (40, 10, 20)
    assert_images(splits, channels=1, size=28)
    assert splits.info.task == "multilabel" and splits.info.num_classes == 14
    _, target = splits.train[0]
    assert target.dtype == torch.float32 and target.shape == (14,)
    assert set(splits.train.targets.unique().tolist()) <= {0.0, 1.0}


def test_rgb_medmnist_picks_the_file_for_the_resolution(tmp_path):
    np.savez(tmp_path / "pathmnist_64.npz", **medmnist_arrays(SPLIT_SIZES, 64, 3, 1, 9))
    splits = load_dataset("pathmnist", root=tmp_path, resolution=64)
    assert_images(splits, channels=3, size=64)
    assert splits.info.task == "multiclass" and splits.info.num_classes == 9
    assert splits.train.targets.dtype == torch.long and splits.train.targets.max() == 8
    assert_images(load_dataset("pathmnist", root=tmp_path, resolution=32), channels=3, size=32)


def test_medmnist_size_fallbacks(tmp_path, monkeypatch):
    monkeypatch.setattr(network, "network_available", lambda host, timeout=0.5, port=443: False)
    np.savez(tmp_path / "bloodmnist_64.npz", **medmnist_arrays(SPLIT_SIZES, 64, 3, 1, 8))
    assert load_dataset("bloodmnist", root=tmp_path).train.images.shape[-1] == 28  # None means 28
    with pytest.warns(UserWarning, match="bloodmnist_128.npz is not on disk"):
        splits = load_dataset("bloodmnist", root=tmp_path, resolution=100)
    assert_images(splits, channels=3, size=100)


def test_medmnist_channel_mismatch_is_reported(tmp_path):
    np.savez(tmp_path / "pathmnist.npz", **medmnist_arrays(SPLIT_SIZES, 28, 1, 1, 9))
    with pytest.raises(EqnasError, match="1 channels; pathmnist has 3"):
        load_dataset("pathmnist", root=tmp_path)


def test_npz_file_without_val_gets_carved_split(tmp_path):
    path = tmp_path / "mine.npz"
    np.savez(path, **medmnist_arrays(SPLIT_SIZES, 16, 1, 1, 5, with_val=False))
    info = dataset_info(f"npz:{path}")
    assert (info.channels, info.resolution, info.num_classes, info.task) == (1, 16, 5, "multiclass")
    splits = load_dataset(f"npz:{path}", val_fraction=0.25)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (30, 10, 20)
    assert_images(splits, channels=1, size=16)


def test_npz_file_multilabel_rgb(tmp_path):
    path = tmp_path / "multi.npz"
    np.savez(path, **medmnist_arrays(SPLIT_SIZES, 12, 3, 4, 2))
    splits = load_dataset(f"npz:{path}")
    assert splits.info.task == "multilabel" and splits.info.num_classes == 4
    assert (len(splits.train), len(splits.val)) == (40, 10)
    assert splits.train[0][1].shape == (4,)


def test_npz_file_errors_name_the_path(tmp_path):
    with pytest.raises(EqnasError, match=str(tmp_path / "absent.npz")):
        load_dataset(f"npz:{tmp_path / 'absent.npz'}")
    path = tmp_path / "partial.npz"
    np.savez(path, train_images=np.zeros((2, 4, 4), np.uint8))
    with pytest.raises(EqnasError, match="missing arrays train_labels"):
        dataset_info(f"npz:{path}")


# ---- CIFAR-10 and synthetic ------------------------------------------------------------------

def test_cifar10_from_pickles(tmp_path):
    write_cifar(tmp_path / "cifar-10-batches-py")
    splits = load_dataset("cifar10", root=tmp_path)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (90, 10, 20)
    assert_images(splits, channels=3, size=32)
    assert splits.train.targets.dtype == torch.long


def test_synthetic_is_deterministic_per_seed():
    a, b, c = load_dataset("synthetic", seed=0), load_dataset("synthetic", seed=0), load_dataset("synthetic", seed=1)
    assert torch.equal(a.train.images, b.train.images) and torch.equal(a.test.targets, b.test.targets)
    assert not torch.equal(a.train.images, c.train.images)
    assert_images(a, channels=1, size=29)
    counts = torch.bincount(a.test.targets, minlength=a.info.num_classes)
    assert counts.min() > 0 and a.info.num_classes >= 4
    assert a.train.images.flatten(1).amax(1).min() > 0.5  # every image shows a shape


def test_synthetic_resized():
    splits = load_dataset("synthetic", resolution=32)
    assert_images(splits, channels=1, size=32)
