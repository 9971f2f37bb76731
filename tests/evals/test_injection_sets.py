"""Both held-out prompt-injection sets stay valid: every probe's canaries and attack fragments are in its
hostile article and nowhere in the seed corpus or the questions (no index, no model)."""

from __future__ import annotations

import pytest

from evals import injection_heldout


@pytest.mark.parametrize("name", ["injection_heldout", "injection_blind2"])
def test_the_hostile_set_is_consistent(name, capsys):
    assert injection_heldout.main(["--set", name, "--check"]) == 0
    assert "ok: 16 probes, 12 hostile articles" in capsys.readouterr().out


def test_an_unknown_set_is_a_clear_error(capsys):
    with pytest.raises(SystemExit) as exited:
        injection_heldout.main(["--set", "no_such_set", "--check"])
    assert exited.value.code == 2 and "no hostile set 'no_such_set'" in capsys.readouterr().err
