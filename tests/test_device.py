"""Devices as PyTorch code writes them: tw.device, tensor.device, device=, .to/.cuda/.cpu,
tw.cuda, tw.backends, tw.accelerator, in CPU mode (this process) and in GPU mode (injected:
``tensorweaver._device.use_mode``, the decision tests can set without a GPU). PyTorch (a CPU
build) is the oracle for the strings and the classes of error."""
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tensorweaver as tw
from tensorweaver import _device, _legate

pytestmark = pytest.mark.unit


@pytest.fixture
def torch():
    return pytest.importorskip("torch", reason="PyTorch is the test-only oracle (extra 'torch')")


@pytest.fixture
def gpu_mode():
    """This process as if it ran cuPyNumeric in Legate GPU mode."""
    saved = _device.MODE
    _device.use_mode("cuda")
    yield
    _device.use_mode(saved)


@pytest.fixture
def cpu_mode():
    saved = _device.MODE
    _device.use_mode("cpu")
    yield
    _device.use_mode(saved)


def _error(fn):
    try:
        fn()
    except Exception as exc:      # noqa: BLE001 - the class is what is compared
        return exc
    raise AssertionError("no error raised")


# --------------------------------------------------------------------------- tw.device
SPECS = [("cpu",), ("cuda",), ("cuda:0",), ("cuda:3",), ("cuda", 1), ("cpu", 0), ("mps",), ("meta",)]


@pytest.mark.torch
@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_device_strings_match_torch(torch, spec):
    ours, theirs = tw.device(*spec), torch.device(*spec)
    assert (repr(ours), str(ours), ours.type, ours.index) == \
        (repr(theirs), str(theirs), theirs.type, theirs.index)
    assert tw.device(ours) == ours and hash(tw.device(ours)) == hash(ours)
    assert pickle.loads(pickle.dumps(ours)) == ours


@pytest.mark.torch
@pytest.mark.parametrize("spec", [("gpu",), ("cuda:x",), ("cuda:-1",), ("cuda", -1),
                                  ("cuda:0", 1), (None,), ("cuda:00",)], ids=str)
def test_bad_device_specs_raise_as_torch(torch, spec):
    ours, theirs = _error(lambda: tw.device(*spec)), _error(lambda: torch.device(*spec))
    assert isinstance(ours, type(theirs)), (ours, theirs)


def test_device_equality_is_torchs():
    assert tw.device("cuda:0") == tw.device("cuda", 0) != tw.device("cuda")
    assert tw.device("cpu") != "cpu"                  # as torch: compare .type with strings
    assert tw.device("cpu").type == "cpu"
    assert len({tw.device("cpu"), tw.device("cpu"), tw.device("cuda:0")}) == 2
    with pytest.raises(RuntimeError, match="'gpu' is not available.*'cuda' for NVIDIA GPUs"):
        tw.device("gpu")


# --------------------------------------------------------------------------- CPU mode
def test_tensors_report_cpu(cpu_mode):
    x = tw.ones(2)
    assert x.device == tw.device("cpu") and repr(x.device) == "device(type='cpu')"
    assert x.device.type == "cpu" and x.device.index is None


FACTORIES = {
    "tensor": lambda d: tw.tensor([1.0, 2.0], device=d),
    "as_tensor": lambda d: tw.as_tensor([1.0], device=d),
    "zeros": lambda d: tw.zeros(2, 3, device=d),
    "ones": lambda d: tw.ones((2,), device=d),
    "empty": lambda d: tw.empty(2, device=d),
    "full": lambda d: tw.full((2,), 0.5, device=d),
    "arange": lambda d: tw.arange(4, device=d),
    "linspace": lambda d: tw.linspace(0, 1, 5, device=d),
    "eye": lambda d: tw.eye(3, device=d),
    "rand": lambda d: tw.rand(2, device=d),
    "randn": lambda d: tw.randn(2, 2, device=d),
    "randint": lambda d: tw.randint(0, 5, (3,), device=d),
    "zeros_like": lambda d: tw.zeros_like(tw.ones(2), device=d),
    "ones_like": lambda d: tw.ones_like(tw.ones(2), device=d),
    "full_like": lambda d: tw.full_like(tw.ones(2), 3.0, device=d),
    "empty_like": lambda d: tw.empty_like(tw.ones(2), device=d),
    "rand_like": lambda d: tw.rand_like(tw.ones(2), device=d),
    "randn_like": lambda d: tw.randn_like(tw.ones(2), device=d),
    "randint_like": lambda d: tw.randint_like(tw.ones(2), 5, device=d),
}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_factories_take_device_cpu_and_refuse_cuda(cpu_mode, name):
    make = FACTORIES[name]
    for d in ("cpu", tw.device("cpu"), "cpu:0", None):
        assert make(d).device == tw.device("cpu")
    for d in ("cuda", "cuda:0", tw.device("cuda", 0)):
        err = _error(lambda: make(d))
        assert isinstance(err, AssertionError) and isinstance(err, RuntimeError), err
        assert "not available" in str(err) and "GPU image" in str(err)
    with pytest.raises(RuntimeError, match="'mps' is not available"):
        make("mps")


@pytest.mark.torch
def test_cuda_errors_have_torchs_class(torch, cpu_mode):
    """torch (CPU build) raises AssertionError('Torch not compiled with CUDA enabled') for these
    and RuntimeError for the index forms; ours is both, so either except clause catches it."""
    cases = [
        (lambda: tw.zeros(2, device="cuda"), lambda: torch.zeros(2, device="cuda")),
        (lambda: tw.tensor([1.0], device="cuda"), lambda: torch.tensor([1.0], device="cuda")),
        (lambda: tw.ones(2).to("cuda"), lambda: torch.ones(2).to("cuda")),
        (lambda: tw.ones(2).to("cuda", tw.float64), lambda: torch.ones(2).to("cuda", torch.float64)),
        (lambda: tw.ones(2).to(device="cuda:0"), lambda: torch.ones(2).to(device="cuda:0")),
        (lambda: tw.ones(2).cuda(), lambda: torch.ones(2).cuda()),
        (lambda: tw.ones(2).cuda(0), lambda: torch.ones(2).cuda(0)),
        (lambda: tw.nn.Linear(2, 2).cuda(), lambda: torch.nn.Linear(2, 2).cuda()),
        (lambda: tw.nn.Linear(2, 2).to("cuda"), lambda: torch.nn.Linear(2, 2).to("cuda")),
        (lambda: tw.nn.Linear(2, 2, device="cuda"), lambda: torch.nn.Linear(2, 2, device="cuda")),
        (lambda: tw.cuda.get_device_name(), lambda: torch.cuda.get_device_name()),
        (lambda: tw.cuda.current_device(), lambda: torch.cuda.current_device()),
        (lambda: tw.accelerator.current_device_index(),
         lambda: torch.accelerator.current_device_index()),
        (lambda: tw.accelerator.synchronize(), lambda: torch.accelerator.synchronize()),
        (lambda: tw.device(0), lambda: torch.device(0)),
    ]
    for ours, theirs in cases:
        o, t = _error(ours), _error(theirs)
        assert isinstance(o, type(t)), (o, t)


def test_to_forms(cpu_mode):
    x = tw.tensor([1.5, 2.5])
    assert x.to("cpu") is x and x.to(tw.device("cpu")) is x and x.to(device="cpu") is x
    assert x.to("cpu", non_blocking=True) is x and x.cpu() is x
    y = x.to("cpu", tw.float64)
    assert y.dtype == tw.float64 and y.tolist() == [1.5, 2.5]
    assert x.to(tw.float64, True).dtype == tw.float64           # to(dtype, non_blocking)
    assert x.to(tw.zeros(1, dtype=tw.float64)).dtype == tw.float64   # to(other)
    assert x.to(device="cpu", dtype=tw.float16).dtype == tw.float16
    c = x.to("cpu", copy=True)
    assert c is not x and c.tolist() == x.tolist()
    with pytest.raises(TypeError, match="unexpected keyword"):
        x.to(devise="cpu")


def test_module_to_cpu(cpu_mode):
    m = tw.nn.Linear(3, 2)
    assert m.to("cpu") is m and m.cpu() is m and m.to(tw.device("cpu")) is m
    assert m.to("cpu", tw.float64) is m and m.weight.dtype == tw.float64
    assert m.weight.device == tw.device("cpu")


@pytest.mark.torch
def test_cuda_namespace_without_cuda_matches_torch(torch, cpu_mode):
    assert tw.cuda.is_available() is torch.cuda.is_available() is False
    assert tw.cuda.device_count() == torch.cuda.device_count() == 0
    assert tw.accelerator.is_available() is torch.accelerator.is_available() is False
    assert tw.accelerator.current_accelerator() is torch.accelerator.current_accelerator() is None
    assert tw.backends.mps.is_available() is torch.backends.mps.is_available() is False
    for flag in ("benchmark", "deterministic", "enabled", "allow_tf32"):
        assert getattr(tw.backends.cudnn, flag) == getattr(torch.backends.cudnn, flag), flag
    assert tw.backends.cuda.matmul.allow_tf32 == torch.backends.cuda.matmul.allow_tf32
    assert tw.backends.cudnn.is_available() is False


def test_backend_flags_are_settable():
    old = tw.backends.cudnn.benchmark, tw.backends.cuda.matmul.allow_tf32
    try:
        tw.backends.cudnn.benchmark = True
        tw.backends.cudnn.deterministic = True
        tw.backends.cuda.matmul.allow_tf32 = True
        assert tw.backends.cudnn.benchmark and tw.backends.cuda.matmul.allow_tf32
        assert (tw.ones(2, 2) @ tw.ones(2, 2)).tolist() == [[2.0, 2.0], [2.0, 2.0]]
    finally:
        tw.backends.cudnn.benchmark, tw.backends.cuda.matmul.allow_tf32 = old
        tw.backends.cudnn.deterministic = False


def test_cuda_seeds_seed_the_host_generator():
    """Randomness is drawn on the host, so the CUDA seeds seed it (in every mode)."""
    tw.manual_seed(123)
    ref = tw.randn(5).tolist()
    tw.cuda.manual_seed(123)
    assert tw.randn(5).tolist() == ref
    tw.cuda.manual_seed_all(123)
    assert tw.randn(5).tolist() == ref
    tw.cuda.manual_seed(124)
    assert tw.randn(5).tolist() != ref


def test_synchronize_on_numpy_is_a_no_op():
    if tw.backend.is_numpy:
        assert tw.cuda.synchronize() is None
        assert tw.cuda.empty_cache() is None


# --------------------------------------------------------------------------- GPU mode (injected)
def test_mode_decision_is_pure():
    assert _device.mode_from(is_numpy=True, gpus=0) == "cpu"
    assert _device.mode_from(is_numpy=True, gpus=4) == "cpu"
    assert _device.mode_from(is_numpy=False, gpus=0) == "cpu"        # Legate CPU mode
    assert _device.mode_from(is_numpy=False, gpus=1) == "cuda"
    assert _device.mode_from(is_numpy=False, gpus=8) == "cuda"
    with pytest.raises(ValueError, match="'cuda' or 'cpu'"):
        _device.use_mode("gpu")


def test_gpu_mode_tensors_report_cuda0(gpu_mode):
    x = tw.ones(2)
    assert x.device == tw.device("cuda", 0) and repr(x.device) == "device(type='cuda', index=0)"
    assert str(x.device) == "cuda:0" and x.device.type == "cuda"
    assert tw.cuda.is_available() and tw.cuda.device_count() == 1 and tw.cuda.current_device() == 0
    assert tw.accelerator.is_available() and tw.accelerator.device_count() == 1
    assert tw.accelerator.current_accelerator() == tw.device("cuda")
    assert tw.accelerator.current_device_index() == 0
    assert isinstance(tw.cuda.get_device_name(), str)


def test_gpu_mode_accepts_cuda_and_cpu(gpu_mode):
    x = tw.tensor([1.0, 2.0])
    assert x.cuda() is x and x.cuda(0) is x and x.to("cuda") is x and x.to("cuda:0") is x
    assert x.to("cpu") is x and x.cpu() is x             # same data: Legate places the arrays
    assert x.to("cuda", tw.float64).dtype == tw.float64
    for name in sorted(FACTORIES):
        for d in ("cuda", "cuda:0", tw.device("cuda", 0), "cpu"):
            assert FACTORIES[name](d).device == tw.device("cuda", 0), (name, d)
    m = tw.nn.Linear(3, 2, device="cuda")
    assert m.cuda() is m and m.to("cuda") is m and m.cpu() is m and m.cuda(0) is m
    tw.cuda.set_device(0)


def test_gpu_mode_has_one_device(gpu_mode):
    for bad in (lambda: tw.zeros(2, device="cuda:1"), lambda: tw.ones(2).to("cuda:1"),
                lambda: tw.ones(2).cuda(1), lambda: tw.cuda.set_device(1)):
        with pytest.raises(RuntimeError, match="invalid device ordinal"):
            bad()
    with pytest.raises(ValueError, match="must be cuda device"):
        tw.ones(2).cuda("cpu")


@pytest.mark.parametrize("mode", ["cpu", "cuda"])
def test_the_portable_idiom_runs_in_both_modes(mode):
    saved = _device.MODE
    _device.use_mode(mode)
    try:
        device = "cuda" if tw.cuda.is_available() else "cpu"
        assert device == mode
        tw.manual_seed(0)
        model = tw.nn.Sequential(tw.nn.Linear(3, 4), tw.nn.ReLU(), tw.nn.Linear(4, 1)).to(device)
        x, y = tw.randn(8, 3, device=device), tw.randn(8, 1).to(device)
        loss = tw.nn.functional.mse_loss(model(x), y)
        loss.backward()
        assert loss.device == tw.device(device, 0 if device == "cuda" else None)
        assert all(p.grad is not None for p in model.parameters())
    finally:
        _device.use_mode(saved)


def test_legate_cpu_mode_error_names_the_mode_and_reason(monkeypatch, cpu_mode):
    monkeypatch.setattr(_device.backend, "is_numpy", False)
    plan = _legate.Plan("cpu", "no NVIDIA driver (libcuda.so.1 is the CUDA driver stand-in)")
    monkeypatch.setattr(_legate, "applied", plan)
    err = _error(lambda: tw.zeros(1, device="cuda"))
    assert isinstance(err, AssertionError) and isinstance(err, RuntimeError)
    assert "Legate CPU mode" in str(err) and "stand-in" in str(err) and "GPU image" in str(err)


# --------------------------------------------------------------------------- tw.onnx, lazily
def test_import_does_not_import_onnx_and_tw_onnx_loads_it():
    code = textwrap.dedent("""
        import sys
        import tensorweaver as tw
        assert "onnx" not in sys.modules, "import tensorweaver imported onnx"
        assert "tensorweaver.onnx" not in sys.modules
        try:
            import onnx  # noqa: F401
        except ImportError:
            print("no onnx")
        else:
            assert callable(tw.onnx.export) and callable(tw.onnx.verify)
            assert tw.onnx is sys.modules["tensorweaver.onnx"]
            print("lazy ok")
        try:
            tw.no_such_thing
        except AttributeError as exc:
            assert "no_such_thing" in str(exc)
        else:
            raise AssertionError("missing attribute did not raise")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() in ("lazy ok", "no onnx")


def test_factories_still_give_the_same_values():
    tw.manual_seed(7)
    a = tw.randn(3, device="cpu").tolist()
    tw.manual_seed(7)
    assert tw.randn(3).tolist() == a
    assert np.array_equal(tw.arange(0, 5, 2, device="cpu").numpy(), np.arange(0, 5, 2))
