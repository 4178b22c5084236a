import pytest
import torch

from rnnzoo.inspection import effective_rank, layer_matrix, memory_tensor, state_trajectory
from rnnzoo.models import LanguageModel, LMConfig


def test_effective_rank_of_known_spectra():
    assert effective_rank(torch.eye(4)).item() == pytest.approx(4.0)
    assert effective_rank(torch.outer(torch.arange(1.0, 4.0), torch.ones(5))).item() == pytest.approx(1.0)
    assert effective_rank(torch.diag(torch.tensor([1.0, 1.0, 0.0]))).item() == pytest.approx(2.0)
    assert effective_rank(torch.zeros(2, 3, 3)).tolist() == [1.0, 1.0]  # no spread: counted as one direction


def test_memory_tensor_is_the_largest_float_tensor():
    state = (torch.zeros(2, 3, 1), torch.zeros(2, 4, 5), torch.zeros(2, dtype=torch.long))
    assert memory_tensor(state).shape == (2, 4, 5)
    with pytest.raises(ValueError, match="no floating tensor"):
        memory_tensor((torch.zeros(2, dtype=torch.long),))


def _lm(mixer, **options):
    torch.manual_seed(0)
    return LanguageModel(LMConfig(vocab_size=11, d_model=16, n_layers=2, mixer=mixer, mixer_options=options)).eval()


def test_state_trajectory_records_every_piece_and_matches_one_call():
    model = _lm("gla", num_heads=2)
    tokens = torch.randint(0, 11, (2, 23))
    rows = state_trajectory(model, tokens, every=8)
    assert [r["positions"] for r in rows] == [[8, 16, 23]] * 2
    _, state = model.forward_with_state(tokens, None)
    for row, s in zip(rows, state):
        assert row["norm"][-1] == pytest.approx(s[0].flatten(1).norm(dim=1).mean().item(), rel=1e-5)
        assert len(row["rank"]) == 3 and all(1.0 <= r <= 4.0 for r in row["rank"])  # [B, H, 4, 8] heads
    assert state_trajectory(_lm("lstm"), tokens, every=8)[0]["rank"] == []  # vector states: norm only


def test_layer_matrix_is_the_mixer_matrix_on_the_block_input():
    model = _lm("mamba2", d_state=4, headdim=4)
    tokens = torch.randint(0, 11, (1, 10))
    m = layer_matrix(model, tokens, layer=1)
    with torch.no_grad():
        h = model.blocks[0](model.embed(tokens))[0]
        expected = model.blocks[1].mixer.materialize(model.blocks[1].norm1(h))
    torch.testing.assert_close(m, expected)
    with pytest.raises(ValueError, match="layer must be in"):
        layer_matrix(model, tokens, layer=2)
