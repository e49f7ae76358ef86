"""The progress line of a training run: each count printed once."""
import io

from cryostar_boltz.engine.training.progress import Progress


def test_a_forced_line_after_the_same_count_is_not_repeated():
    stream = io.StringIO()
    progress = Progress(6, "train", stream=stream, interval=0.0)
    for step in range(1, 7):
        progress.update(step)
        if step % 3 == 0:  # end of an epoch: forced
            progress.update(step, force=True)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert [line.split(" ")[1].rstrip(",") for line in lines] == [
        "[1/6]", "[2/6]", "[3/6]", "[4/6]", "[5/6]", "[6/6]"]


def test_a_forced_line_prints_a_count_the_interval_skipped():
    stream = io.StringIO()
    progress = Progress(6, "train", stream=stream, interval=3600.0)
    for step in range(1, 4):
        progress.update(step)
    progress.update(3, force=True)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("train [3/6]")
