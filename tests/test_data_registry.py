"""One registration per dataset: specs, ``--data`` values, and errors that name the fix."""

import numpy as np
import pytest

from convrnn.config import resolve
from convrnn.data import (
    MissingDataError,
    check_dataset,
    dataset_info,
    dataset_spec,
    get_dataset,
    list_datasets,
    register_dataset,
    resolve_data_argument,
)
from convrnn.data.spec import SPECS
from convrnn.errors import ChoiceError, ConfigError, ConvrnnError
from convrnn.train.data import dataset_options


def test_every_builtin_registers_once_with_its_length_options():
    lengths = {name: dataset_spec(name).lengths for name in list_datasets()}
    assert lengths == {
        "arrays": "input_output",
        "germany": "seq_len",
        "hko7": "seq_len",
        "kth": "seq_len",
        "moving-mnist": "seq_len",
        "taxibj": "seq_len",
        "typhoon": None,
    }
    assert [n for n in list_datasets() if dataset_spec(n).takes_normalizer] == ["arrays"]
    assert [n for n in list_datasets() if dataset_spec(n).reads_paths] == ["arrays"]
    assert all(dataset_spec(n).info is not None for n in list_datasets())
    with pytest.raises(ValueError, match="registered twice"):
        register_dataset("kth")(lambda split, root, **o: None)


def test_a_user_dataset_is_one_registration(tmp_path):
    def loader(split, root=None, *, seq_len=4, scale=1.0):
        return [np.zeros((seq_len, 1, 2, 2), np.float32) + scale]

    register_dataset("toy", lengths="seq_len")(loader)
    try:
        assert "toy" in list_datasets() and dataset_spec("toy").options == ("seq_len", "scale")
        assert get_dataset("toy", None, "train", scale=2.0)[0].max() == 2.0
        with pytest.raises(ConfigError, match=r"'scal' \(did you mean 'scale'\?\)"):
            get_dataset("toy", None, "train", scal=2.0)
        with pytest.raises(KeyError, match="no registered info"):
            dataset_info("toy")
        assert resolve_data_argument("toy") == ("toy", None)
    finally:
        del SPECS["toy"]


def test_dataset_options_come_from_the_spec():
    cfg = resolve({"data": {"name": "kth", "input_length": 10, "test_output_length": 20}})
    assert dataset_options(cfg, "train") == {"seq_len": 20}
    assert dataset_options(cfg, "test") == {"seq_len": 30}
    cfg = resolve({"data": {"name": "arrays", "input_length": 3, "output_length": 2}})
    assert dataset_options(cfg, "val", {"kind": "identity"}) == {
        "input_length": 3,
        "output_length": 2,
        "normalizer": {"kind": "identity"},
    }
    cfg = resolve({"data": {"name": "typhoon", "options": {"seq_len": 9}}})
    assert dataset_options(cfg, "train", {"kind": "identity"}) == {"seq_len": 9}  # user's own
    cfg = resolve({"data": {"name": "taxibj", "options": {"seq_len": 6}}})
    assert dataset_options(cfg, "train") == {"seq_len": 6}  # the user's option wins


def test_resolve_data_argument(tmp_path, monkeypatch):
    np.save(tmp_path / "series.npy", np.zeros((4, 2, 2), np.float32))
    assert resolve_data_argument("kth") == ("kth", None)
    assert resolve_data_argument(str(tmp_path / "series.npy")) == (
        "arrays",
        str(tmp_path / "series.npy"),
    )
    assert resolve_data_argument(str(tmp_path)) == ("arrays", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    # a relative path is stored absolute, so the run works from any directory (issue 12)
    assert resolve_data_argument("series.npy") == ("arrays", str(tmp_path / "series.npy"))
    for missing in ("absent.npy", "data/absent", str(tmp_path / "nope")):
        with pytest.raises(MissingDataError, match="no such file or folder") as e:
            resolve_data_argument(missing)
        assert missing in str(e.value) and "unknown dataset" not in str(e.value)
    with pytest.raises(ChoiceError, match="unknown dataset 'kthh'; valid datasets: arrays, ") as e:
        resolve_data_argument("kthh")
    assert isinstance(e.value, KeyError)


def test_unknown_dataset_name_is_a_choice_error():
    for call in (lambda: get_dataset("mnist"), lambda: dataset_info("mnist")):
        with pytest.raises(ChoiceError, match=r"unknown dataset 'mnist'; valid datasets: .*kth"):
            call()
    with pytest.raises(KeyError):
        check_dataset("mnist", "/nowhere")


def test_a_misspelt_option_lists_the_datasets_options(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((20, 2, 2), np.float32))
    for call in (
        lambda: get_dataset("arrays", tmp_path / "x.npy", "train", normalise="rain"),
        lambda: dataset_info("arrays", normalise="rain"),
        lambda: check_dataset("arrays", tmp_path / "x.npy", normalise="rain"),
    ):
        with pytest.raises(ConfigError) as e:
            call()
        message = str(e.value)
        assert "unknown option 'normalise' (did you mean 'normalize'?)" in message
        assert "for dataset 'arrays'; valid options: " in message and "value_range" in message
        assert isinstance(e.value, ConvrnnError) and not isinstance(e.value, TypeError)
    with pytest.raises(ConfigError, match=r"options 'a', 'b' for dataset 'typhoon'"):
        get_dataset("typhoon", tmp_path, "train", a=1, b=2)
    assert dataset_info("typhoon", size=32).frame_size == (32, 32)  # the info's own option
