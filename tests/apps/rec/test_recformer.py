import pytest
import torch

from rnnzoo.apps.rec import RecConfig, RecTrainConfig, build_model, load_dataset, train_rec
from rnnzoo.apps.rec.recformer import pack
from rnnzoo.apps.rec.text import CLS_TOKEN, TYPE_CLS, tokenize_items
from rnnzoo.config_args import override
from tests.apps.rec.test_recommend import N_ITEMS, data_dir  # noqa: F401  (fixture)

TEXTS = [""] + [f"title: film {i} year: {1990 + i % 3} genre: {'drama' if i % 2 else 'comedy'}"
                for i in range(1, N_ITEMS + 1)]


def _recformer(**kw):
    cfg = RecConfig(arch="recformer", n_items=N_ITEMS, d_model=16, n_layers=1, inner_size=32, dropout=0.0,
                    text_history=3, item_words=6, **{"mixer_options": {"num_heads": 2}, **kw})
    return build_model(cfg, tokens=tokenize_items(TEXTS, set(range(1, N_ITEMS - 2)), cfg.item_words))


def test_pack_moves_real_tokens_left_after_cls():
    tokens = torch.tensor([[5, 0, 6, 7], [0, 0, 8, 0]])
    valid = tokens != 0
    t, ty, pos, lengths = pack(tokens, torch.full_like(tokens, 3), torch.tensor([[1, 1, 2, 2]] * 2), valid)
    assert t.tolist() == [[CLS_TOKEN, 5, 6, 7], [CLS_TOKEN, 8, 0, 0]] and lengths.tolist() == [4, 2]
    assert ty.tolist() == [[TYPE_CLS, 3, 3, 3], [TYPE_CLS, 3, 0, 0]]
    assert pos.tolist() == [[0, 1, 2, 2], [0, 2, 0, 0]]


@pytest.mark.parametrize("kw", [{}, {"encoder": "gru", "mixer_options": {}},
                                {"encoder": "hydra", "mixer_options": {"headdim": 8, "d_state": 8}}], ids=["attention", "gru", "hydra"])
def test_recformer_reads_the_last_items_most_recent_first_and_ignores_padding(kw):
    torch.manual_seed(0)
    model = _recformer(**kw).eval()
    model.refresh_items()
    seq = torch.tensor([[4, 2, 9, 5, 0, 0]])
    with torch.no_grad():
        a = model.score(seq, torch.tensor([4]))
        b = model.score(seq[:, :4], torch.tensor([4]))
        c = model.score(torch.tensor([[2, 9, 5]]), torch.tensor([3]))  # text_history = 3: item 4 is not read
        d = model.score(torch.tensor([[9, 2, 5]]), torch.tensor([3]))
    assert a.shape == (1, N_ITEMS + 1) and torch.isfinite(a).all()
    if kw.get("encoder") != "hydra":  # a causal mixer runs bidirectionally within each row's length
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(b, c)
    assert (c - d).abs().max() > 0  # order matters (item positions)


def test_recformer_items_come_from_text_so_cold_items_get_embeddings():
    torch.manual_seed(0)
    model = _recformer()
    model.refresh_items()
    cache = model.item_cache
    assert cache.abs().sum(1)[1:].min() > 0  # every item, the cold ones (words unseen: [UNK]) included
    assert not torch.allclose(cache[N_ITEMS], cache[N_ITEMS - 1])


def test_recformer_training_reduces_loss_in_both_stages():
    torch.manual_seed(0)
    model = _recformer()
    seq, lengths = torch.tensor([[1, 2, 3], [4, 5, 0], [7, 0, 0]]), torch.tensor([3, 2, 1])
    targets = torch.tensor([4, 6, 8])
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    # stage 1 (targets encoded with gradients) learns; stage 2 (items frozen) goes on lowering the loss
    for encode_targets, steps, factor in ((True, 20, 0.5), (False, 5, 1.0)):
        model.refresh_items()
        frozen = model.item_cache.clone()
        first = model.loss(seq, lengths, targets, encode_targets).item()
        for _ in range(steps):
            opt.zero_grad()
            model.loss(seq, lengths, targets, encode_targets).backward()
            opt.step()
        assert model.loss(seq, lengths, targets, encode_targets).item() < factor * first
        assert torch.equal(model.item_cache, frozen)  # only refresh_items changes the cache


def test_config_errors():
    with pytest.raises(ValueError, match="recformer trains on the next item"):
        RecConfig(arch="recformer", objective="cloze")
    with pytest.raises(ValueError, match="text_history must be >= 1"):
        RecConfig(arch="recformer", text_history=0)
    with pytest.raises(ValueError, match="items must be one of"):
        RecConfig(items="image")
    with pytest.raises(ValueError, match="item sentences"):
        build_model(RecConfig(arch="recformer", n_items=3))


@pytest.mark.parametrize("kw", [dict(arch="recformer", text_history=3), dict(encoder="gru", items="text"),
                                dict(arch="sasrec")])
def test_cold_start_run_reports_warm_and_cold(data_dir, kw):  # noqa: F811
    cfg = override(RecTrainConfig(), data=str(data_dir), steps=3, batch_size=4, d_model=16, n_layers=1,
                   cold_items=0.3, progress=False, mixer_options={"num_heads": 2} if "arch" in kw else {}, **kw)
    r = train_rec(None, cfg)
    users = r["test_users"]
    assert users["warm"] + users["cold"] == r["dataset"]["users"] and r["cold_items"] == round(0.3 * N_ITEMS)
    for split in ("test_warm", "test_cold"):
        assert 0 <= r[split]["hit@10"] <= 1
    n = users["warm"] + users["cold"]
    if users["cold"] and users["warm"]:
        mixed = (users["warm"] * r["test_warm"]["ndcg@10"] + users["cold"] * r["test_cold"]["ndcg@10"]) / n
        assert r["test"]["ndcg@10"] == pytest.approx(mixed)


def test_text_models_need_an_item_file(tmp_path):
    from tests.apps.rec.test_data import write_inter

    path = write_inter(tmp_path / "t.inter", [(f"u{u}", f"i{(u + t) % 7}", t) for u in range(4) for t in range(6)])
    with pytest.raises(ValueError, match=r"reads item text: .*\.item file"):
        train_rec(load_dataset(path), override(RecTrainConfig(), arch="recformer", steps=1, progress=False))
