"""How much of PyTorch's public API tensorweaver has: writes ``API.md`` at the repo root.

    python tools/api_coverage.py            # rewrite API.md
    python tools/api_coverage.py --check    # exit 1 when API.md is out of date

The names come from the installed torch (the oracle version, 2.13): ``torch.__all__``,
``dir(torch.Tensor)``, ``torch.nn.functional``, the ``torch.nn`` modules, ``torch.optim``,
``torch.optim.lr_scheduler``, ``torch.nn.init`` and ``torch.utils.data``. They are grouped
by the sections of PyTorch's documentation, whose lists are kept below (``SECTIONS``); a
public name that no list holds lands in an "outside the documented sections" group, so
nothing is left out. Each name is *present* (tensorweaver has it under the same name),
*absent*, or *skipped* with the reason (``SKIP``: features with no meaning here).

``tests/test_api_coverage.py`` regenerates the table and fails when the committed file
differs, or when a name listed present does not exist (or one listed absent does).
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "API.md"

# --------------------------------------------------------------------------- sections
# (title, namespace, names). Namespaces: "torch" (tw.<name>, and Tensor.<name> where torch
# has that method too), "Tensor", "F" (nn.functional), "nn", "init" (nn.init), "optim",
# "lr_scheduler", "data" (utils.data).
_S = str.split
SECTIONS = [
    ("Tensors", "torch", _S("""
        is_tensor is_storage is_complex is_conj is_floating_point is_nonzero set_default_dtype
        get_default_dtype set_default_device get_default_device set_default_tensor_type numel
        set_printoptions set_flush_denormal""")),
    ("Creation Ops", "torch", _S("""
        tensor sparse_coo_tensor sparse_csr_tensor sparse_csc_tensor sparse_bsr_tensor
        sparse_bsc_tensor asarray as_tensor as_strided from_file from_numpy from_dlpack frombuffer
        zeros zeros_like ones ones_like arange range linspace logspace eye empty empty_like
        empty_strided full full_like quantize_per_tensor quantize_per_channel dequantize complex
        polar heaviside""")),
    ("Indexing, Slicing, Joining, Mutating Ops", "torch", _S("""
        adjoint argwhere cat concat concatenate conj chunk dsplit column_stack dstack gather hsplit
        hstack index_add index_copy index_reduce index_select masked_select movedim moveaxis narrow
        narrow_copy nonzero permute reshape row_stack select scatter diagonal_scatter select_scatter
        slice_scatter scatter_add scatter_reduce segment_reduce split squeeze stack swapaxes
        swapdims t take take_along_dim tensor_split tile transpose unbind unravel_index unsqueeze
        vsplit vstack where""")),
    ("Generators and random sampling", "torch", _S("""
        Generator seed manual_seed initial_seed get_rng_state set_rng_state default_generator
        bernoulli multinomial normal poisson rand rand_like randint randint_like randn randn_like
        randperm""")),
    ("In-place random sampling", "Tensor", _S("""
        bernoulli_ cauchy_ exponential_ geometric_ log_normal_ normal_ random_ uniform_""")),
    ("Serialization", "torch", _S("save load")),
    ("Parallelism", "torch", _S("""
        get_num_threads set_num_threads get_num_interop_threads set_num_interop_threads""")),
    ("Locally disabling gradient computation", "torch", _S("""
        no_grad enable_grad set_grad_enabled is_grad_enabled inference_mode
        is_inference_mode_enabled""")),
    ("Pointwise Ops", "torch", _S("""
        abs absolute acos arccos acosh arccosh add addcdiv addcmul angle asin arcsin asinh arcsinh
        atan arctan atanh arctanh atan2 arctan2 bitwise_not bitwise_and bitwise_or bitwise_xor
        bitwise_left_shift bitwise_right_shift ceil clamp clip conj_physical copysign cos cosh
        deg2rad div divide digamma erf erfc erfinv exp exp2 expm1 fake_quantize_per_channel_affine
        fake_quantize_per_tensor_affine fix float_power floor floor_divide fmod frac frexp gradient
        imag ldexp lerp lgamma log log10 log1p log2 logaddexp logaddexp2 logical_and logical_not
        logical_or logical_xor logit hypot i0 igamma igammac mul multiply mvlgamma nan_to_num neg
        negative nextafter polygamma positive pow quantized_batch_norm quantized_max_pool1d
        quantized_max_pool2d rad2deg real reciprocal remainder round rsqrt sigmoid sign sgn signbit
        sin sinc sinh softmax sqrt square sub subtract tan tanh true_divide trunc xlogy""")),
    ("Reduction Ops", "torch", _S("""
        argmax argmin amax amin aminmax all any max min dist logsumexp mean nanmean median nanmedian
        mode norm nansum prod quantile nanquantile std std_mean sum unique unique_consecutive var
        var_mean count_nonzero""")),
    ("Comparison Ops", "torch", _S("""
        allclose argsort eq equal ge greater_equal gt greater isclose isfinite isin isinf isposinf
        isneginf isnan isreal kthvalue le less_equal lt less maximum minimum fmax fmin ne not_equal
        sort topk msort""")),
    ("Spectral Ops", "torch", _S("""
        stft istft bartlett_window blackman_window hamming_window hann_window kaiser_window""")),
    ("Other Operations", "torch", _S("""
        atleast_1d atleast_2d atleast_3d bincount block_diag broadcast_tensors broadcast_to
        broadcast_shapes bucketize cartesian_prod cdist clone combinations corrcoef cov cross cummax
        cummin cumprod cumsum diag diag_embed diagflat diagonal diff einsum flatten flip fliplr flipud
        kron rot90 gcd histc histogram histogramdd meshgrid lcm logcumsumexp ravel renorm
        repeat_interleave roll searchsorted tensordot trace tril tril_indices triu triu_indices
        unflatten vander view_as_real view_as_complex resolve_conj resolve_neg""")),
    ("BLAS and LAPACK Operations", "torch", _S("""
        addbmm addmm addmv addr baddbmm bmm chain_matmul cholesky cholesky_inverse cholesky_solve
        dot geqrf ger inner inverse det logdet slogdet lu lu_solve lu_unpack matmul matrix_power
        matrix_exp mm mv orgqr ormqr outer pinverse qr svd svd_lowrank pca_lowrank lobpcg trapz
        trapezoid cumulative_trapezoid triangular_solve vdot""")),
    ("Utilities", "torch", _S("""
        compiled_with_cxx11_abi result_type can_cast promote_types use_deterministic_algorithms
        are_deterministic_algorithms_enabled is_deterministic_algorithms_warn_only_enabled
        set_deterministic_debug_mode get_deterministic_debug_mode set_float32_matmul_precision
        get_float32_matmul_precision set_warn_always get_device_module is_warn_always_enabled
        vmap""")),
    # ---- torch.nn, by the families of its documentation
    ("nn: Containers", "nn", _S("Module Sequential ModuleList ModuleDict ParameterList ParameterDict")),
    ("nn: Parameters and buffers", "nn", _S("Parameter UninitializedParameter UninitializedBuffer Buffer")),
    ("nn: Convolution Layers", "nn", _S("""
        Conv1d Conv2d Conv3d ConvTranspose1d ConvTranspose2d ConvTranspose3d LazyConv1d LazyConv2d
        LazyConv3d LazyConvTranspose1d LazyConvTranspose2d LazyConvTranspose3d Unfold Fold""")),
    ("nn: Pooling Layers", "nn", _S("""
        MaxPool1d MaxPool2d MaxPool3d MaxUnpool1d MaxUnpool2d MaxUnpool3d AvgPool1d AvgPool2d
        AvgPool3d FractionalMaxPool2d FractionalMaxPool3d LPPool1d LPPool2d LPPool3d
        AdaptiveMaxPool1d AdaptiveMaxPool2d AdaptiveMaxPool3d AdaptiveAvgPool1d AdaptiveAvgPool2d
        AdaptiveAvgPool3d""")),
    ("nn: Padding Layers", "nn", _S("""
        ReflectionPad1d ReflectionPad2d ReflectionPad3d ReplicationPad1d ReplicationPad2d
        ReplicationPad3d ZeroPad1d ZeroPad2d ZeroPad3d ConstantPad1d ConstantPad2d ConstantPad3d
        CircularPad1d CircularPad2d CircularPad3d""")),
    ("nn: Non-linear Activations", "nn", _S("""
        ELU Hardshrink Hardsigmoid Hardtanh Hardswish LeakyReLU LogSigmoid MultiheadAttention PReLU
        ReLU ReLU6 RReLU SELU CELU GELU Sigmoid SiLU Mish Softplus Softshrink Softsign Tanh
        Tanhshrink Threshold GLU Softmin Softmax Softmax2d LogSoftmax AdaptiveLogSoftmaxWithLoss""")),
    ("nn: Normalization Layers", "nn", _S("""
        BatchNorm1d BatchNorm2d BatchNorm3d LazyBatchNorm1d LazyBatchNorm2d LazyBatchNorm3d GroupNorm
        SyncBatchNorm InstanceNorm1d InstanceNorm2d InstanceNorm3d LazyInstanceNorm1d
        LazyInstanceNorm2d LazyInstanceNorm3d LayerNorm LocalResponseNorm RMSNorm""")),
    ("nn: Recurrent Layers", "nn", _S("RNNBase RNN LSTM GRU RNNCell LSTMCell GRUCell")),
    ("nn: Transformer Layers", "nn", _S("""
        Transformer TransformerEncoder TransformerDecoder TransformerEncoderLayer
        TransformerDecoderLayer""")),
    ("nn: Linear Layers", "nn", _S("Identity Linear Bilinear LazyLinear")),
    ("nn: Dropout Layers", "nn", _S("Dropout Dropout1d Dropout2d Dropout3d AlphaDropout FeatureAlphaDropout")),
    ("nn: Sparse Layers", "nn", _S("Embedding EmbeddingBag")),
    ("nn: Distance Functions", "nn", _S("CosineSimilarity PairwiseDistance")),
    ("nn: Loss Functions", "nn", _S("""
        L1Loss MSELoss CrossEntropyLoss CTCLoss NLLLoss PoissonNLLLoss GaussianNLLLoss KLDivLoss
        BCELoss BCEWithLogitsLoss MarginRankingLoss HingeEmbeddingLoss MultiLabelMarginLoss HuberLoss
        SmoothL1Loss SoftMarginLoss MultiLabelSoftMarginLoss CosineEmbeddingLoss MultiMarginLoss
        TripletMarginLoss TripletMarginWithDistanceLoss""")),
    ("nn: Vision Layers", "nn", _S("PixelShuffle PixelUnshuffle Upsample UpsamplingNearest2d UpsamplingBilinear2d")),
    ("nn: Shuffle Layers", "nn", _S("ChannelShuffle")),
    ("nn.init", "init", _S("""
        calculate_gain uniform_ normal_ constant_ ones_ zeros_ eye_ dirac_ xavier_uniform_
        xavier_normal_ kaiming_uniform_ kaiming_normal_ trunc_normal_ orthogonal_ sparse_""")),
    # ---- torch.nn.functional
    ("nn.functional: Convolution functions", "F", _S("""
        conv1d conv2d conv3d conv_transpose1d conv_transpose2d conv_transpose3d unfold fold""")),
    ("nn.functional: Pooling functions", "F", _S("""
        avg_pool1d avg_pool2d avg_pool3d max_pool1d max_pool2d max_pool3d max_unpool1d max_unpool2d
        max_unpool3d lp_pool1d lp_pool2d lp_pool3d adaptive_max_pool1d adaptive_max_pool2d
        adaptive_max_pool3d adaptive_avg_pool1d adaptive_avg_pool2d adaptive_avg_pool3d
        fractional_max_pool2d fractional_max_pool3d""")),
    ("nn.functional: Attention Mechanisms", "F", _S("scaled_dot_product_attention")),
    ("nn.functional: Non-linear activation functions", "F", _S("""
        threshold threshold_ relu relu_ hardtanh hardtanh_ hardswish relu6 elu elu_ selu celu
        leaky_relu leaky_relu_ prelu rrelu rrelu_ glu gelu logsigmoid hardshrink tanhshrink softsign
        softplus softmin softmax softshrink gumbel_softmax log_softmax tanh sigmoid hardsigmoid silu
        mish batch_norm group_norm instance_norm layer_norm local_response_norm rms_norm
        normalize""")),
    ("nn.functional: Linear functions", "F", _S("linear bilinear")),
    ("nn.functional: Dropout functions", "F", _S("""
        dropout alpha_dropout feature_alpha_dropout dropout1d dropout2d dropout3d""")),
    ("nn.functional: Sparse functions", "F", _S("embedding embedding_bag one_hot")),
    ("nn.functional: Distance functions", "F", _S("pairwise_distance cosine_similarity pdist")),
    ("nn.functional: Loss functions", "F", _S("""
        binary_cross_entropy binary_cross_entropy_with_logits poisson_nll_loss cosine_embedding_loss
        cross_entropy ctc_loss gaussian_nll_loss hinge_embedding_loss kl_div l1_loss mse_loss
        margin_ranking_loss multilabel_margin_loss multilabel_soft_margin_loss multi_margin_loss
        nll_loss huber_loss smooth_l1_loss soft_margin_loss triplet_margin_loss
        triplet_margin_with_distance_loss""")),
    ("nn.functional: Vision functions", "F", _S("""
        pixel_shuffle pixel_unshuffle pad interpolate upsample upsample_nearest upsample_bilinear
        grid_sample affine_grid""")),
    # ---- torch.optim, torch.utils.data
    ("optim: Optimizers", "optim", _S("""
        Optimizer Adadelta Adafactor Adagrad Adam AdamW SparseAdam Adamax ASGD LBFGS NAdam RAdam
        RMSprop Rprop SGD""")),
    ("optim.lr_scheduler", "lr_scheduler", _S("""
        LRScheduler LambdaLR MultiplicativeLR StepLR MultiStepLR ConstantLR LinearLR ExponentialLR
        PolynomialLR CosineAnnealingLR ChainedScheduler SequentialLR ReduceLROnPlateau CyclicLR
        OneCycleLR CosineAnnealingWarmRestarts""")),
    ("utils.data", "data", _S("""
        Dataset IterableDataset TensorDataset StackDataset ConcatDataset ChainDataset Subset
        DataLoader random_split default_collate Sampler SequentialSampler RandomSampler
        SubsetRandomSampler WeightedRandomSampler BatchSampler DistributedSampler
        get_worker_info""")),
]

# --------------------------------------------------------------------------- skipped on purpose
_QUANT = "quantized tensors: tensorweaver has float and integer tensors only, no quantization"
_SPARSE = "sparse tensors: every tensor here is a dense backend array"
_COMPLEX = "complex numbers: tensors hold float, integer or bool data only"
_NAMED = "named tensors (a prototype feature of torch)"
_BACKEND = "a kernel of one torch backend (cuDNN, MKL-DNN, MIOpen, FBGEMM, XNNPACK, NNPACK)"
_JIT = "TorchScript/JIT, dispatcher or storage internals: no counterpart in a pure-Python engine"
_LAZY = "lazy modules infer shapes at first call; tensorweaver's layers take their sizes up front"
_DIST = "distributed training (process groups) is outside tensorweaver"

SKIP = {name: _QUANT for name in _S("""
    quantize_per_tensor quantize_per_channel dequantize fake_quantize_per_channel_affine
    fake_quantize_per_tensor_affine quantized_batch_norm quantized_max_pool1d quantized_max_pool2d
    q_per_channel_axis q_per_channel_scales q_per_channel_zero_points q_scale q_zero_point qscheme
    int_repr is_quantized""")}
SKIP.update({name: _COMPLEX for name in _S("""
    complex polar angle conj conj_physical imag real view_as_real view_as_complex resolve_conj
    is_complex is_conj sgn cfloat cdouble chalf""")})
SKIP.update({name: _NAMED for name in _S("""
    names rename rename_ refine_names align_as align_to has_names""")})
SKIP.update({name: _DIST for name in _S("SyncBatchNorm DistributedSampler")})
SKIP.update({name: _SPARSE for name in _S("SparseAdam sparse_")})
SKIP["segment_reduce"] = "a prototype op of torch's sparse/jagged support"
SKIP["is_storage"] = ("storages: a tensor here holds its backend array directly, there is no separate "
                      "storage object to test for")
SKIP["set_default_tensor_type"] = ("deprecated since torch 2.1 for set_default_dtype and set_default_device, "
                                   "which tensorweaver has; it has no legacy tensor type classes (FloatTensor ...)")

# Patterns for the long tail of torch.__all__ and dir(torch.Tensor).
SKIP_PATTERNS = [
    (re.compile(r"(^|_)(q_|quantiz|qint|quint|qscheme)|_quantized|^is_quantized"), _QUANT),
    (re.compile(r"sparse|^(c|cc|crow|col|row)_indices|^values$|^indices$|^to_dense|^coalesce|"
                r"^is_coalesced|^_nnz|^smm$|^hspmm|^sspaddmm|^dsmm|^saddmm"), _SPARSE),
    (re.compile(r"complex|^conj|^is_conj|^resolve_conj|^is_neg$|^resolve_neg$"), _COMPLEX),
    (re.compile(r"^(cudnn|mkldnn|miopen|fbgemm|xnnpack|nnpack|native_|to_mkldnn)"), _BACKEND),
    (re.compile(r"^Lazy"), _LAZY),
    (re.compile(r"^[A-Z].*(Type|Storage|Script|Schema|Guard|Descriptor|Logger|Iterator|Context|"
                r"Benchmark|Unit|Module(Serializer|Builder)|Exception|Plan|State)$|"
                r"^(Storage|TypedStorage|UntypedStorage|AliasDb|Argument|ArgumentSpec|Block|CallStack|"
                r"Capsule|Code|CompleteArgumentSpec|ConcreteModuleType|DeepCopyMemoTable|DispatchKey|"
                r"DispatchKeySet|DisableTorchFunction|DisableTorchFunctionSubclass|FileCheck|Gradient|"
                r"Graph|IODescriptor|Node|Use|Value|Tag|OperatorInfo|StaticModule|AggregationType|AVG|SUM|"
                r"PyTorchFileReader|PyTorchFileWriter|Future|Event|Stream|ExcludeDispatchKeyGuard)$"), _JIT),
]


def skip_reason(name: str):
    if name in SKIP:
        return SKIP[name]
    for pattern, reason in SKIP_PATTERNS:
        if pattern.search(name):
            return reason
    return None


# --------------------------------------------------------------------------- namespaces
def torch_namespaces():
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torch.nn.init as init
    import torch.optim as optim
    import torch.optim.lr_scheduler as lr_scheduler
    import torch.utils.data as data
    return {"torch": torch, "Tensor": torch.Tensor, "F": F, "nn": nn, "init": init,
            "optim": optim, "lr_scheduler": lr_scheduler, "data": data}


def tw_namespaces():
    sys.path.insert(0, str(ROOT))
    import tensorweaver as tw
    import tensorweaver.nn.functional as F
    import tensorweaver.nn.init as init
    import tensorweaver.optim as optim
    import tensorweaver.optim.lr_scheduler as lr_scheduler
    import tensorweaver.utils.data as data
    return {"torch": tw, "Tensor": tw.Tensor, "F": F, "nn": tw.nn, "init": init,
            "optim": optim, "lr_scheduler": lr_scheduler, "data": data}


#: How each namespace is written in API.md (and resolved by the test).
PREFIX = {"torch": "tw.", "Tensor": "Tensor.", "F": "F.", "nn": "nn.", "init": "nn.init.",
          "optim": "optim.", "lr_scheduler": "optim.lr_scheduler.", "data": "utils.data."}


def has(namespace_obj, name: str) -> bool:
    """tensorweaver has ``name`` when the attribute resolves (a module ``__getattr__`` counts)."""
    try:
        getattr(namespace_obj, name)
    except AttributeError:
        return False
    return True


def _public(names):
    return sorted({n for n in names if not n.startswith("_")})


def extra_names(torch_ns):
    """Public torch names that no section list holds, per namespace."""
    import inspect
    listed = {}
    for _, ns, names in SECTIONS:
        listed.setdefault(ns, set()).update(names)
    torch_mod = torch_ns["torch"]
    nn = torch_ns["nn"]
    extras = {
        "torch": _public(n for n in torch_mod.__all__
                         if n not in listed["torch"] and not inspect.ismodule(getattr(torch_mod, n, None))),
        "Tensor": _public(n for n in dir(torch_mod.Tensor)
                          if n not in listed["torch"] and n not in listed["Tensor"]),
        "F": _public(n for n in dir(torch_ns["F"]) if callable(getattr(torch_ns["F"], n))
                     and getattr(getattr(torch_ns["F"], n), "__module__", "") and n not in listed["F"]
                     and not inspect.isclass(getattr(torch_ns["F"], n))
                     and getattr(torch_ns["F"], n).__module__ in ("torch.nn.functional", "torch._C._nn",
                                                                   None, "torch", "torch.functional")),
        "nn": _public(n for n in dir(nn) if inspect.isclass(getattr(nn, n))
                      and issubclass(getattr(nn, n), nn.Module) and n not in listed["nn"]),
        "optim": _public(n for n in dir(torch_ns["optim"]) if inspect.isclass(getattr(torch_ns["optim"], n))
                         and n not in listed["optim"]),
    }
    return extras


# --------------------------------------------------------------------------- the table
def build():
    """[(title, rows)] where a row is (name, {prefix: "yes"|"no"|"-"}, skip reason or None)."""
    torch_ns, tw_ns = torch_namespaces(), tw_namespaces()
    missing = [(title, n) for title, ns, names in SECTIONS for n in names if not has(torch_ns[ns], n)]
    if missing:
        raise SystemExit(f"section lists name what torch {torch_ns['torch'].__version__} lacks: {missing}")
    groups = [(title, ns, names) for title, ns, names in SECTIONS]
    for ns, names in extra_names(torch_ns).items():
        if names:
            what = {"torch": "torch.__all__", "Tensor": "dir(torch.Tensor)", "F": "torch.nn.functional",
                    "nn": "torch.nn modules", "optim": "torch.optim"}[ns]
            groups.append((f"Outside the documented sections: {what}", ns, names))
    sections = []
    for title, ns, names in groups:
        rows = []
        for name in names:
            cells = {PREFIX[ns]: "yes" if has(tw_ns[ns], name) else "no"}
            if ns == "torch":
                tensor_has = has(torch_ns["Tensor"], name)
                cells["Tensor."] = ("yes" if has(tw_ns["Tensor"], name) else "no") if tensor_has else "-"
            rows.append((name, cells, skip_reason(name)))
        sections.append((title, rows))
    return sections, torch_ns["torch"].__version__


def _status(cells, reason):
    if any(v == "yes" for v in cells.values()):
        return "present"
    return "skipped" if reason else "absent"


def counts(sections):
    total = {"present": 0, "absent": 0, "skipped": 0}
    for _, rows in sections:
        for _, cells, reason in rows:
            for v in cells.values():
                if v == "-":
                    continue
                total["present" if v == "yes" else ("skipped" if reason else "absent")] += 1
    return total


def render(sections, torch_version) -> str:
    total = counts(sections)
    lines = [
        "# API coverage: tensorweaver against PyTorch " + torch_version.split("+")[0],
        "",
        "Generated by `python tools/api_coverage.py` from the installed torch's public names",
        "(`torch.__all__`, `dir(torch.Tensor)`, `torch.nn`, `torch.nn.functional`, `torch.nn.init`,",
        "`torch.optim`, `torch.optim.lr_scheduler`, `torch.utils.data`), grouped by the sections of",
        "PyTorch's documentation. Do not edit by hand: `tests/test_api_coverage.py` fails when this",
        "file is not what the script writes now.",
        "",
        "A cell says whether tensorweaver has the name under that prefix: **yes**, `no`, or `-`",
        "where torch has no such name (e.g. a function with no Tensor method). Skipped names have",
        "no meaning here; the reason is given.",
        "",
        f"Totals (one count per cell): {total['present']} present, {total['absent']} absent, "
        f"{total['skipped']} skipped.",
        "",
        "| Section | present | absent | skipped |",
        "|---|---|---|---|",
    ]
    for title, rows in sections:
        c = counts([(title, rows)])
        anchor = re.sub(r"[^a-z0-9 -]", "", title.lower()).replace(" ", "-")
        lines.append(f"| [{title}](#{anchor}) | {c['present']} | {c['absent']} | {c['skipped']} |")
    for title, rows in sections:
        c = counts([(title, rows)])
        lines += ["", f"## {title}", "",
                  f"{c['present']} present, {c['absent']} absent, {c['skipped']} skipped.", ""]
        prefixes = list(rows[0][1])
        lines.append("| name | " + " | ".join(f"`{p}`" for p in prefixes) + " |")
        lines.append("|---|" + "---|" * len(prefixes))
        skipped = []
        for name, cells, reason in rows:
            if _status(cells, reason) == "skipped":
                skipped.append((name, reason))
                continue
            shown = ["**yes**" if cells[p] == "yes" else ("`no`" if cells[p] == "no" else "-") for p in prefixes]
            lines.append(f"| `{name}` | " + " | ".join(shown) + " |")
        if skipped:
            lines += ["", "Skipped:", ""]
            by_reason = {}
            for name, reason in skipped:
                by_reason.setdefault(reason, []).append(name)
            for reason, names in by_reason.items():
                lines.append(f"- {reason}: " + ", ".join(f"`{n}`" for n in names))
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if API.md is out of date")
    args = parser.parse_args(argv)
    text = render(*build())
    if args.check:
        current = OUTPUT.read_text() if OUTPUT.exists() else ""
        if current != text:
            print("API.md is out of date: run python tools/api_coverage.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    total = counts(build()[0])
    print(f"wrote {OUTPUT.name}: {total['present']} present, {total['absent']} absent, "
          f"{total['skipped']} skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
