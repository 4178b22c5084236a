import pytest

from rnnzoo.tasks import IGNORE, ModularArithmetic


@pytest.mark.parametrize("modulus", [2, 5, 7])
def test_labels_equal_python_evaluation_of_each_prefix(modulus):
    task = ModularArithmetic(seq_len=21, modulus=modulus)
    x, y = task.make("train", 30, 1)
    assert x.max() < task.vocab_size
    ops = {modulus: "+", modulus + 1: "-"}
    for row in range(30):
        text = ""
        for t in range(21):
            tok = int(x[row, t])
            if t % 2:
                assert tok in ops and int(y[row, t]) == IGNORE
                text += ops[tok]
            else:
                assert tok < modulus
                text += str(tok)
                assert int(y[row, t]) == eval(text) % modulus  # noqa: S307  (digits and +/- only)


def test_even_length_raises():
    with pytest.raises(ValueError, match="odd"):
        ModularArithmetic(seq_len=40)
