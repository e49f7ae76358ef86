"""The README's first command: the demo runs the whole workflow."""
from pathlib import Path

from cryostar_boltz.workflow.demo import run_demo


def test_demo_runs_every_protocol(tmp_path):
    lines = []
    made = run_demo(tmp_path / "demo", n_particles=160, epochs=1, threads=1,
                    log=lines.append)
    names = [name for name, _, _ in made["protocols"]]
    assert [n.split(" - ")[1] for n in names] == [
        "train", "sample prior", "generate ensemble", "analyze"]
    project = Path(made["project"])
    for _, folder, summary in made["protocols"]:
        assert (project / folder).is_dir()
        assert summary and "not run yet" not in " ".join(summary)
    run = next(project.glob("Runs/*CryoStarBoltzProtTrain/extra/run"))
    assert (run / "z.npy").exists() and (run / "density" / "model.pt").exists()
    assert list(project.glob("Runs/*CryoStarBoltzProtGenerate/extra/**/*.mrc"))
    text = "\n".join(lines)
    assert "Scipion project" in text and str(project) in text
