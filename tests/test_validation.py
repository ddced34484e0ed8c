"""Tests of the validation layer (nsp_helpers.errors): what every public function uses to refuse bad input."""

from __future__ import annotations

import errno
import fractions
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from nsp_helpers import errors
from nsp_helpers.errors import InvalidParameterError
from nsp_helpers.noise import Dropout, MultiplicativeGaussian

NOT_NUMBERS = [
    ("0.5", "the string '0.5'"),
    (b"0.5", "the bytes"),
    (True, "the bool True"),
    (np.bool_(False), "the bool False"),
    (0.5 + 0j, "the complex number"),
    (np.complex128(1), "the complex number"),
    (None, "got None"),
    (object(), "object object"),
    ({"p": 0.5}, "{'p': 0.5}"),
    ([0.5, "a"], "containing strings"),
    ([0.5, None], "containing None"),
    ([True, False], "containing booleans"),
    ([[0.5], [0.5, 0.6]], "non-ragged"),
    (np.array([1 + 1j]), "containing complex numbers"),
    (torch.tensor([True]), "tensor of torch.bool"),
    (10**400, "float64 range"),
]


@pytest.mark.parametrize("value, shown", NOT_NUMBERS, ids=[repr(v)[:20] for v, _ in NOT_NUMBERS])
def test_check_in_range_refuses_what_is_not_a_real_number(value, shown):
    with pytest.raises(InvalidParameterError) as info:
        errors.check_in_range("keep_prob", value, 0, 1, low_open=True)
    msg = str(info.value)
    assert msg.startswith("keep_prob must be a real number") and shown in msg


@pytest.mark.parametrize("value", [0.5, 1, np.float32(0.25), np.int64(1), fractions.Fraction(1, 2), [0.5, 1.0],
                                   (0.2,), np.array([[0.5]]), torch.tensor([0.5, 1.0])])
def test_check_in_range_accepts_real_numbers_and_arrays(value):
    out = errors.check_in_range("keep_prob", value, 0, 1, low_open=True)
    assert out.dtype == np.float64 and np.all((out > 0) & (out <= 1))


@pytest.mark.parametrize("value, text", [(float("nan"), "finite"), (float("inf"), "finite"), (-np.inf, "finite"),
                                         (0.0, "in (0, 1], got 0.0"), (1.0 + 1e-12, "in (0, 1]"), (-1e300, "in (0, 1]")])
def test_check_in_range_names_the_interval(value, text):
    with pytest.raises(InvalidParameterError, match=r"^keep_prob must be") as info:
        errors.check_in_range("keep_prob", value, 0, 1, low_open=True)
    assert text in str(info.value)


def test_shapes_for_scalar_and_vector_parameters():
    with pytest.raises(InvalidParameterError, match=r"^lr must be a single number, got a list of 2 values$"):
        errors.check_float("lr", [1e-3, 1e-2], 0, low_open=True)
    with pytest.raises(InvalidParameterError, match=r"^q must be a single number, got an array of shape \(3,\)$"):
        errors.check_in_range("q", np.ones(3), max_ndim=0)
    with pytest.raises(InvalidParameterError, match=r"scalar or a 1-D array, got shape \(2, 2\)"):
        errors.check_in_range("sigma_w2", np.ones((2, 2)), max_ndim=1)
    assert errors.check_float("lr", np.float32(0.5)) == 0.5 and type(errors.check_float("lr", 1)) is float


@pytest.mark.parametrize("value, message", [
    (2.5, "n must be an integer >= 0, got 2.5"),
    (-1, "n must be an integer >= 0, got -1"),
    (True, "n must be an integer >= 0, got the bool True"),
    ("3", "n must be an integer >= 0, got the string '3'"),
    (None, "n must be an integer >= 0, got None"),
    (3 + 0j, "n must be an integer >= 0, got (3+0j)"),
    (2**63, "n must be an integer in [0, 9223372036854775807], got 9223372036854775808"),
    (np.float64(3.0), "n must be an integer >= 0, got np.float64(3.0)"),
])
def test_check_int(value, message):
    with pytest.raises(InvalidParameterError) as info:
        errors.check_int("n", value, 0)
    assert str(info.value) == message


def test_check_int_accepts_integers_and_integral_floats_when_asked():
    assert errors.check_int("n", np.int32(7), 0) == 7 and type(errors.check_int("n", np.int32(7), 0)) is int
    assert errors.check_int("n", 4.0, 1, allow_integral_float=True) == 4
    for bad in (float("nan"), float("inf"), 4.5):
        with pytest.raises(InvalidParameterError):
            errors.check_int("n", bad, 1, allow_integral_float=True)
    with pytest.raises(InvalidParameterError, match=r"shard must be an integer in \[0, 3\], got 4"):
        errors.check_int("shard", 4, 0, 3)


def test_check_choice_bool_and_path():
    assert errors.check_choice("task", "classify", ("reconstruct", "classify")) == "classify"
    with pytest.raises(InvalidParameterError, match=r"did you mean 'classify'\?"):
        errors.check_choice("task", "clasify", ("reconstruct", "classify"))
    with pytest.raises(InvalidParameterError, match=r"task must be one of 'reconstruct', 'classify', got a list of 1 value"):
        errors.check_choice("task", ["classify"], ("reconstruct", "classify"))
    with pytest.raises(InvalidParameterError, match=r"got None"):
        errors.check_choice("task", None, ("reconstruct",))
    assert errors.check_bool("download", np.bool_(True)) is True
    for bad in (0, 1, "True", None):
        with pytest.raises(InvalidParameterError, match="download must be True or False"):
            errors.check_bool("download", bad)
    assert errors.check_path("out", Path("a") / "b") == Path("a/b")
    for bad in ("", 3, None, b"x", "a\x00b"):
        with pytest.raises(InvalidParameterError, match="out must be"):
            errors.check_path("out", bad)


def test_as_real_tensor():
    x = errors.as_real_tensor("images", np.ones((2, 3), dtype=np.uint8), ndim=2)
    assert x.dtype == torch.float32 and x.shape == (2, 3)
    with pytest.raises(InvalidParameterError, match="images must hold real numbers, got a tensor of torch.complex64"):
        errors.as_real_tensor("images", torch.ones(2, 2, dtype=torch.complex64))
    with pytest.raises(InvalidParameterError, match="images must be finite"):
        errors.as_real_tensor("images", torch.tensor([[1.0, float("nan")]]))
    with pytest.raises(InvalidParameterError, match="images must be finite"):
        errors.as_real_tensor("images", np.array([[1e300]]))  # beyond float32
    with pytest.raises(InvalidParameterError, match=r"images must have 2 dimensions, got shape \(3,\)"):
        errors.as_real_tensor("images", [1.0, 2.0, 3.0], ndim=2)


def test_every_error_is_a_value_error_and_storage_errors_are_os_errors():
    assert issubclass(InvalidParameterError, ValueError)
    assert issubclass(errors.DamagedFileError, InvalidParameterError)
    assert issubclass(errors.StorageError, OSError)
    exc = errors.storage_error(Path("/x/r.json"), PermissionError(errno.EACCES, "Permission denied"))
    assert str(exc).startswith("cannot write /x/r.json: permission denied") and exc.errno == errno.EACCES
    assert exc.filename == os.fspath(Path("/x/r.json"))


# --------------------------------------------------------------------------------------------------
# the defects of the issue, through the public constructors
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["0.5", True, 0.5 + 0.1j, None, [0.5, "1"]])
def test_noise_models_refuse_strings_bools_and_complex(value):
    with pytest.raises(InvalidParameterError, match="keep_prob must be"):
        Dropout(value)
    with pytest.raises(InvalidParameterError, match="std must be"):
        MultiplicativeGaussian(value)


def test_noise_families_still_work():
    assert Dropout([0.5, 1.0]).shape == (2,)
    assert Dropout(np.float32(0.5)).keep_prob == 0.5


def test_memory_refusals_name_the_callers_sizes():
    """check_memory refuses with the sizes it is given; caller_sizes puts the caller's names in their place
    (the outermost context wins), and the message reads "would take" whatever ``what`` is."""
    with pytest.raises(errors.InsufficientMemoryError) as info:
        errors.check_memory(1e30, "the inputs", {"n_inputs": 2 * 10**20, "width": 8})
    assert isinstance(info.value, InvalidParameterError)
    assert "the inputs would take" in str(info.value) and "reduce n_inputs=200000000000000000000 or width=8" in str(info.value)
    with pytest.raises(errors.InsufficientMemoryError) as info:
        with errors.caller_sizes({"n_pairs": 10**20, "n_networks": 2, "width": 8}):
            with errors.caller_sizes({"n_inputs": 2 * 10**20, "width": 8}):
                errors.check_memory(1e30, "the forward pass", {"n_inputs": 2 * 10**20})
    message = str(info.value)
    assert message.endswith("reduce n_pairs=100000000000000000000, n_networks=2 or width=8"), message
    assert "n_inputs" not in message and info.value.sizes == {"n_pairs": 10**20, "n_networks": 2, "width": 8}
    with errors.caller_sizes({"n_pairs": 3}):  # nothing to rename: other errors pass through unchanged
        with pytest.raises(InvalidParameterError, match="^x must be"):
            errors.check_float("x", float("nan"))
