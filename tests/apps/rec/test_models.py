import json
from dataclasses import replace

import pytest
import torch

from rnnzoo.apps.rec import RecConfig, RecTrainConfig, load_dataset, train_rec
from rnnzoo.apps.rec.batches import mask_batch, train_windows
from rnnzoo.apps.rec.models import GRU4Rec, MixerRec, TransformerRec, build_model
from rnnzoo.apps.rec.train import recbole_train
from rnnzoo.labels import IGNORE
from rnnzoo.train import TrainConfig
from tests.apps.rec.test_data import write_inter

N_ITEMS = 30
CASES = [dict(arch="sasrec"), dict(arch="bert4rec"), dict(arch="gru4rec"),
         dict(encoder="lstm", objective="next"), dict(encoder="gru", objective="cloze"),
         dict(encoder="attention", objective="cloze"), dict(arch="sasrec", decoupled=True),
         dict(arch="bert4rec", decoupled=True, actr=True), dict(encoder="lstm", actr=True, contrastive_weight=0.1)]


def _batch(cfg, gen):
    lengths = torch.tensor([7, 4, 1])
    seq = torch.randint(1, N_ITEMS + 1, (3, 7), generator=gen)
    seq[torch.arange(7)[None] >= lengths[:, None]] = 0
    if cfg.cloze:
        return _cloze(seq, lengths, cfg, gen)
    labels = torch.randint(1, N_ITEMS + 1, (3, 7), generator=gen).masked_fill(seq == 0, IGNORE)
    return seq, lengths, labels


def _cloze(seq, lengths, cfg, gen):
    return mask_batch(seq, lengths, cfg.mask_ratio, cfg.mask_token, gen)


@pytest.mark.parametrize("kw", CASES, ids=lambda kw: "-".join(map(str, kw.values())))
def test_forward_shape_and_training_reduces_loss(kw):
    torch.manual_seed(0)
    cfg = RecConfig(n_items=N_ITEMS, d_model=16, n_layers=1, n_heads=2, inner_size=32, gru_hidden=16,
                    dropout=0.0, mixer_options={"num_heads": 2} if kw.get("encoder") == "attention" else {}, **kw)
    model = build_model(cfg)
    batch = _batch(cfg, torch.Generator().manual_seed(1))
    scores = model.score(batch[0], batch[1])
    assert scores.shape == (3, N_ITEMS + 1) and torch.isfinite(scores).all()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = model.loss(*batch).item()
    for _ in range(30):
        opt.zero_grad()
        model.loss(*batch).backward()
        opt.step()
    assert model.loss(*batch).item() < 0.5 * first


@pytest.mark.parametrize("kw", CASES, ids=lambda kw: "-".join(map(str, kw.values())))
def test_padding_does_not_change_scores(kw):
    torch.manual_seed(0)
    opts = {"num_heads": 2} if kw.get("encoder") == "attention" else {}
    model = build_model(RecConfig(n_items=N_ITEMS, d_model=16, n_layers=2, inner_size=32, gru_hidden=16,
                                  mixer_options=opts, **kw)).eval()
    seq = torch.tensor([[3, 5, 7, 0, 0, 0]])
    with torch.no_grad():
        short = model.score(seq[:, :3], torch.tensor([3]))
        long = model.score(seq, torch.tensor([3]))
    torch.testing.assert_close(short, long, atol=1e-5, rtol=1e-5)


def test_config_errors():
    with pytest.raises(ValueError, match="no option"):
        RecConfig(n_items=5, encoder="lstm", objective="next", mixer_options={"bogus": 1})
    with pytest.raises(ValueError, match="fixed objective"):
        RecConfig(n_items=5, arch="sasrec", objective="cloze")
    with pytest.raises(ValueError, match="unknown mixer"):
        RecConfig(n_items=5, encoder="nope")
    with pytest.raises(ValueError, match="item_counts"):
        build_model(RecConfig(n_items=5, arch="pop"))
    with pytest.raises(ValueError, match="n_items is unset"):
        build_model(RecConfig(arch="sasrec"))
    with pytest.raises(ValueError, match="early_stop_metric"):
        RecTrainConfig(train=TrainConfig(early_stop_metric="loss"))
    with pytest.raises(ValueError, match="epochs"):
        RecTrainConfig(epochs=0)


@pytest.mark.parametrize("kw, cls", [(dict(arch="gru4rec"), GRU4Rec), (dict(arch="sasrec"), TransformerRec),
                                     (dict(arch="bert4rec"), TransformerRec), (dict(encoder="gru"), MixerRec)])
def test_build_model_picks_the_encoder_family(kw, cls):
    assert type(build_model(RecConfig(n_items=5, **kw))) is cls


@pytest.mark.parametrize("kw", [dict(arch="pop"), dict(arch="sasrec"), dict(arch="bert4rec")])
def test_train_rec_end_to_end(tmp_path, kw):
    rows = [(f"u{u}", f"i{(u * 7 + t * 3) % 11}", t) for u in range(6) for t in range(8)]
    data = load_dataset(write_inter(tmp_path / "t.inter", rows), max_len=5)
    config = RecTrainConfig(RecConfig(d_model=16, n_layers=1, inner_size=32, **kw), epochs=None, batch_size=4,
                            train=replace(recbole_train(), steps=4, progress=False, out_dir=str(tmp_path / "run")))
    res = train_rec(data, config)
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    for split in ("valid", "test"):
        assert set(saved[split]) == {f"{m}@{k}" for m in ("hit", "ndcg", "mrr") for k in (10, 20)}
        assert 0 <= saved[split]["hit@10"] <= saved[split]["hit@20"] <= 1
    assert saved["wall_seconds"] > 0 and res["test"] == saved["test"]
    if kw["arch"] != "pop":
        assert (tmp_path / "run" / "best.safetensors").exists() and res["train_windows"] == len(
            train_windows(data, kw["arch"] == "bert4rec")[0])


def test_epochs_and_steps_both_cap_a_run(tmp_path):
    rows = [(f"u{u}", f"i{(u * 7 + t * 3) % 11}", t) for u in range(6) for t in range(8)]
    data = load_dataset(write_inter(tmp_path / "t.inter", rows), max_len=5)
    model = RecConfig(arch="gru4rec", d_model=8, gru_hidden=8)
    per_epoch = -(-len(train_windows(data, False)[0]) // 2)
    by_epochs = train_rec(data, RecTrainConfig(model, epochs=2, batch_size=2, train=replace(recbole_train(),
                                                                                          progress=False)))
    assert by_epochs["steps"] == 2 * per_epoch and by_epochs["epochs"] == 2
    by_steps = train_rec(data, RecTrainConfig(model, epochs=2, batch_size=2, train=replace(
        recbole_train(), steps=per_epoch - 1, progress=False)))
    assert by_steps["steps"] == per_epoch - 1


def test_train_rec_loads_the_data_its_config_names(tmp_path):
    rows = [(f"u{u}", f"i{(u * 7 + t * 3) % 11}", t) for u in range(6) for t in range(8)]
    path = write_inter(tmp_path / "t.inter", rows)
    res = train_rec(None, RecTrainConfig(RecConfig(arch="pop"), data=str(path), history_len=5))
    assert res["dataset"] == {"users": 6, "items": 11, "interactions": 48}
    assert res["config"]["max_len"] == 5 and res["config"]["objective"] == "next"


@pytest.mark.parametrize("arch", ["sasrec", "bert4rec"])
def test_decoupled_embeddings_are_two_tables_both_trained(arch):
    torch.manual_seed(0)
    cfg = RecConfig(n_items=N_ITEMS, arch=arch, d_model=16, n_layers=2, n_heads=2, inner_size=32, dropout=0.0,
                    decoupled=True)
    model = build_model(cfg)
    assert model.att_emb.weight.data_ptr() != model.item_emb.weight.data_ptr()
    assert model.att_emb.weight.shape == model.item_emb.weight.shape
    batch = _batch(cfg, torch.Generator().manual_seed(1))
    model.loss(*batch).backward()
    assert model.att_emb.weight.grad.abs().sum() > 0 and model.item_emb.weight.grad.abs().sum() > 0
    h = model.hidden(batch[0], batch[1])  # the scores use the representation table only
    last = h[torch.arange(3), batch[1] - 1]
    expected = last @ model.item_emb.weight[: N_ITEMS + 1].T + (model.bias if model.bias is not None else 0)
    torch.testing.assert_close(model.score(batch[0], batch[1]), expected)


@pytest.mark.parametrize("arch", ["sasrec", "bert4rec"])
def test_decoupled_model_with_equal_tables_is_the_plain_model(arch):
    """With the attention table and norm set equal to the representation ones, the decoupled layers compute
    what nn.TransformerEncoderLayer computes: the option changes only where queries and keys come from."""
    torch.manual_seed(0)
    kw = dict(n_items=N_ITEMS, arch=arch, d_model=16, n_layers=2, n_heads=2, inner_size=32, dropout=0.0)
    plain = build_model(RecConfig(**kw)).eval()
    dare = build_model(RecConfig(decoupled=True, **kw)).eval()
    state = plain.state_dict()
    state.update({"att_emb.weight": state["item_emb.weight"], "att_norm.weight": state["emb_norm.weight"],
                  "att_norm.bias": state["emb_norm.bias"]})
    dare.load_state_dict(state)
    batch = _batch(plain.config, torch.Generator().manual_seed(2))
    torch.testing.assert_close(dare.score(batch[0], batch[1]), plain.score(batch[0], batch[1]))
    with torch.no_grad():
        dare.att_emb.weight.mul_(3.0)  # and the attention table really changes the scores
    assert not torch.allclose(dare.score(batch[0], batch[1]), plain.score(batch[0], batch[1]))
