"""The training form's focus parameters: a mask pointer (Mask or Volume),
the residues that may move and the motion, passed to the engine."""
import pytest

pytest.importorskip("pwem")

from pwem.objects import Volume, VolumeMask  # noqa: E402

from cryostar_boltz import constants as cts  # noqa: E402
from cryostar_boltz.protocols import CryoStarBoltzProtTrain, train_form  # noqa: E402


def test_focus_parameters_become_engine_options(tmp_path):
    protocol = CryoStarBoltzProtTrain(moveSelection=" B, A:120-250 ",
                                      motion=cts.MOTIONS.index("domains"),
                                      domains="A:1-119;A:120-250;B", numDomains=3)
    protocol.inputMask.set(VolumeMask(location=str(tmp_path / "mask.mrc")))
    args = [str(a) for a in train_form.focus_args(protocol)]
    assert args == ["--mask", str(tmp_path / "mask.mrc"), "--move", "B, A:120-250",
                    "--motion", "domains", "--domains", "A:1-119;A:120-250;B"]
    # no domains given: their number, 0 letting the engine choose
    protocol.domains.set("")
    assert [str(a) for a in train_form.focus_args(protocol)][-2:] == [
        "--num-domains", "3"]
    protocol.numDomains.set(0)
    assert train_form.focus_args(protocol)[-2:] == ["--motion", "domains"]


def test_a_plain_volume_is_a_mask_too(tmp_path):
    protocol = CryoStarBoltzProtTrain()
    protocol.inputMask.set(Volume(location=str(tmp_path / "m.mrc")))
    assert train_form.focus_args(protocol) == ["--mask", str(tmp_path / "m.mrc")]
    assert "VolumeMask" in protocol.getParam("inputMask").pointerClass.get()


def test_summary_names_the_focus():
    lines = train_form.focus_summary({"mask": "/x/extra/mask.mrc", "move": "B",
                                      "motion": "domains", "num_domains": 2,
                                      "domains": "B:1-50;B:51-99"})
    assert lines == ["Focus mask: mask.mrc.", "Residues that may move: B (the rest held).",
                     "Rigid-domain motion, 2 domains: B:1-50;B:51-99."]
    assert train_form.focus_summary({"motion": "free"}) == []
