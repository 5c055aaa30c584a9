"""``tw.save``/``tw.load``: exact round trips of nested structures, no pickle anywhere,
and clear errors for unsupported objects and corrupt or foreign files."""
import io
import json
import math
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import tensorweaver as tw
from tensorweaver import nn, optim
from tensorweaver.serialization import SerializationError

pytestmark = pytest.mark.unit


def roundtrip(obj, tmp_path=None):
    if tmp_path is None:
        buf = io.BytesIO()
        tw.save(obj, buf)
        buf.seek(0)
        return tw.load(buf)
    path = tmp_path / "ckpt.tw"
    tw.save(obj, path)
    return tw.load(str(path))


@pytest.mark.parametrize("dtype", [tw.float16, tw.float32, tw.float64, tw.int8, tw.uint8, tw.int16, tw.int32,
                                   tw.int64, tw.bool])
def test_tensor_dtypes_and_values_exact(dtype, tmp_path):
    data = np.random.default_rng(0).normal(size=(3, 4)) * 50
    t = tw.tensor(data.astype(dtype))
    back = roundtrip({"t": t, "scalar": tw.tensor(3.5, dtype=dtype), "empty": tw.zeros(0, 2, dtype=dtype)}, tmp_path)
    assert back["t"].dtype == dtype and back["t"].shape == (3, 4)
    np.testing.assert_array_equal(back["t"].numpy(), t.numpy())
    assert back["scalar"].shape == () and back["empty"].shape == (0, 2)


def test_nested_python_values_exact():
    obj = {"a": [1, 2.5, "x", None, True, False], "b": (1, (2, 3)), 7: {"nested": OrderedDict(z=1, a=2)},
           "big": 2 ** 70, "nan": float("nan"), "inf": -math.inf, "tiny": 5e-324, "uni": "élan ✓",
           (1, "k"): "tuple key", "np": np.arange(3, dtype=np.int16), "npf": np.float32(1.25)}
    back = roundtrip(obj)
    assert back["a"] == [1, 2.5, "x", None, True, False]
    assert back["b"] == (1, (2, 3)) and isinstance(back["b"], tuple)
    assert back[7]["nested"] == OrderedDict(z=1, a=2) and isinstance(back[7]["nested"], OrderedDict)
    assert list(back) == list(obj)
    assert back["big"] == 2 ** 70 and math.isnan(back["nan"]) and back["inf"] == -math.inf
    assert back["tiny"] == 5e-324 and back["uni"] == "élan ✓" and back[(1, "k")] == "tuple key"
    assert back["np"].dtype == np.int16 and back["np"].tolist() == [0, 1, 2]
    assert back["npf"] == np.float32(1.25) and back["npf"].dtype == np.float32


def test_model_and_optimizer_checkpoint(tmp_path):
    tw.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 3))
    opt = optim.Adam(model.parameters(), lr=0.01, amsgrad=True)
    for _ in range(3):
        opt.zero_grad()
        model(tw.randn(4, 1, 4, 4)).pow(2).mean().backward()
        opt.step()
    ckpt = {"model": model.state_dict(), "optim": opt.state_dict(), "epoch": 3}
    back = roundtrip(ckpt, tmp_path)
    assert list(back["model"]) == list(ckpt["model"])
    for k, v in ckpt["model"].items():
        assert back["model"][k].dtype == v.dtype
        np.testing.assert_array_equal(back["model"][k].numpy(), v.numpy())
    assert back["optim"]["state"][0]["step"] == 3 and set(back["optim"]["state"]) == {0, 1, 2, 3, 4, 5}
    assert back["optim"]["param_groups"][0]["betas"] == (0.9, 0.999)
    model2 = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 3))
    model2.load_state_dict(back["model"])
    opt2 = optim.Adam(model2.parameters(), lr=0.01, amsgrad=True)
    opt2.load_state_dict(back["optim"])
    x = tw.randn(2, 1, 4, 4)
    np.testing.assert_array_equal(model.eval()(x).detach().numpy(), model2.eval()(x).detach().numpy())


def test_parameters_and_shared_tensors_come_back_as_such():
    p = nn.Parameter(tw.ones(2))
    back = roundtrip({"p": p, "again": p, "frozen": nn.Parameter(tw.zeros(1), requires_grad=False)})
    assert isinstance(back["p"], nn.Parameter) and back["p"].requires_grad
    assert back["again"] is back["p"]
    assert not back["frozen"].requires_grad


def test_file_is_npz_plus_json_without_pickle(tmp_path):
    path = tmp_path / "m.tw"
    tw.save({"w": tw.ones(2)}, path)
    with zipfile.ZipFile(path) as z:
        names = sorted(z.namelist())
        assert names == ["__tensorweaver__.npy", "a0.npy"]
        raw = z.read("a0.npy")
    assert b"pickle" not in raw
    header = np.load(path, allow_pickle=False)["__tensorweaver__"]
    meta = json.loads(bytes(header).decode())
    assert meta["format"] == "tensorweaver" and meta["version"] == 1
    assert not list(tmp_path.glob(".tw-save-*"))          # the temporary file was renamed away


def test_unsupported_objects_are_named():
    with pytest.raises(SerializationError, match=r"obj\['model'\]\['fn'\]: cannot save an object of type function"):
        tw.save({"model": {"fn": lambda: 1}}, io.BytesIO())
    with pytest.raises(SerializationError, match="dict key"):
        tw.save({frozenset(): 1}, io.BytesIO())
    with pytest.raises(SerializationError, match="dtype object"):
        tw.save(np.array([object()]), io.BytesIO())


def test_failed_save_leaves_no_partial_file(tmp_path):
    path = tmp_path / "x.tw"
    with pytest.raises(SerializationError):
        tw.save({"bad": object()}, path)
    assert not path.exists() and not list(tmp_path.iterdir())


def test_corrupt_and_foreign_files_give_clear_errors(tmp_path):
    good = tmp_path / "good.tw"
    tw.save({"w": tw.ones(3)}, good)
    data = good.read_bytes()

    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"definitely not a checkpoint")
    with pytest.raises(SerializationError, match=r"'.*garbage.bin' is not a tensorweaver checkpoint"):
        tw.load(garbage)

    truncated = tmp_path / "truncated.tw"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(SerializationError, match="truncated.tw"):
        tw.load(truncated)

    flipped = bytearray(data)
    at = data.index(b"\x00\x00\x80?")            # inside a0's float32 payload (1.0)
    flipped[at + 2] ^= 0xFF
    bad_crc = tmp_path / "flipped.tw"
    bad_crc.write_bytes(bytes(flipped))
    with pytest.raises(SerializationError, match="flipped.tw"):
        tw.load(bad_crc)

    plain = tmp_path / "plain.npz"
    np.savez(plain, x=np.ones(2))
    with pytest.raises(SerializationError, match="not a tensorweaver checkpoint.*no '__tensorweaver__'"):
        tw.load(plain)

    npy = tmp_path / "one.npy"
    np.save(npy, np.ones(2))
    with pytest.raises(SerializationError, match="single NumPy array"):
        tw.load(npy)

    torch_like = tmp_path / "model.pt"
    with zipfile.ZipFile(torch_like, "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        z.writestr("archive/version", b"3")
    with pytest.raises(SerializationError, match="looks like a PyTorch checkpoint.*never unpickles"):
        tw.load(torch_like)

    with pytest.raises(FileNotFoundError, match="missing.tw"):
        tw.load(tmp_path / "missing.tw")


def test_wrong_header_and_future_version(tmp_path):
    def write(header, path):
        np.savez(path, __tensorweaver__=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8))

    write({"format": "other", "version": 1, "tree": None}, tmp_path / "a.npz")
    with pytest.raises(SerializationError, match="not a tensorweaver header"):
        tw.load(tmp_path / "a.npz")
    write({"format": "tensorweaver", "version": 99, "tree": None}, tmp_path / "b.npz")
    with pytest.raises(SerializationError, match="format version 99.*upgrade"):
        tw.load(tmp_path / "b.npz")
    write({"format": "tensorweaver", "version": 1, "tree": {"$tensor": "a7"}}, tmp_path / "c.npz")
    with pytest.raises(SerializationError, match="refers to array 'a7'"):
        tw.load(tmp_path / "c.npz")


def test_map_location_is_checked():
    buf = io.BytesIO()
    tw.save([1], buf)
    buf.seek(0)
    assert tw.load(buf, map_location="cpu") == [1]
    buf.seek(0)
    with pytest.raises(RuntimeError, match="not available"):
        tw.load(buf, map_location="tpu")
