"""What the command tests of this folder assert of a refused command line."""
from cryostar_boltz.engine.cli import main


def refused(capsys, argv, words, code=1):
    """Run ``argv``; assert the exit code and one error line holding ``words``
    (no traceback); returns that line."""
    assert main([str(a) for a in argv]) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0], err
    assert "Traceback" not in err[0]
    return err[0]
