import pytest
import torch

from rnnzoo.apps.rec import RecConfig, RecTrainConfig, build_model, load_dataset, recommend, train_rec
from rnnzoo.apps.rec.recommend import load_recommender, recommend_for_user
from rnnzoo.apps.rec.text import tokenize_items
from rnnzoo.cli import main
from rnnzoo.config_args import override
from tests.apps.rec.test_data import write_inter
from tests.apps.rec.test_text import write_items

N_ITEMS = 13
CASES = [dict(arch="pop"), dict(arch="sasrec"), dict(arch="bert4rec"), dict(arch="gru4rec"),
         dict(encoder="gru", items="text"), dict(arch="recformer")]
TINY = dict(d_model=16, n_layers=1, inner_size=32, gru_hidden=16, mixer_options={})


@pytest.fixture
def data_dir(tmp_path):
    rows = [(f"u{u}", f"i{(u * 5 + t * 3) % N_ITEMS}", t) for u in range(5) for t in range(7)]
    write_inter(tmp_path / "t.inter", rows)
    write_items(tmp_path / "t.item")
    return tmp_path


def _model(kw, data):
    cfg = RecConfig(n_items=data.n_items, max_len=data.max_len, **TINY, **kw)
    if cfg.arch == "recformer":
        cfg = RecConfig(**{**cfg.__dict__, "mixer_options": {"num_heads": 2}})
    tokens = tokenize_items(data.item_text, data.train_items(), cfg.item_words)
    return build_model(cfg, torch.as_tensor(data.item_popularity()), tokens)


@pytest.mark.parametrize("kw", CASES, ids=lambda kw: "-".join(map(str, kw.values())))
def test_recommend_returns_k_distinct_unseen_items(data_dir, kw):
    torch.manual_seed(0)
    data = load_dataset(data_dir, max_len=4)
    model = _model(kw, data).eval()  # eval: the direct score() below without dropout
    history = [3, 5, 3, 1, 7, 2]  # longer than max_len, with a repeat
    for k in (1, 5, N_ITEMS - 5):
        items = model.recommend(history, k)
        assert len(items) == k == len(set(items.tolist())) and not set(items.tolist()) & set(history)
        assert 0 not in items.tolist() and int(items.max()) <= N_ITEMS
    kept = model.recommend(history, N_ITEMS, exclude_seen=False)
    assert sorted(kept.tolist()) == list(range(1, N_ITEMS + 1))
    assert torch.equal(recommend(model, history, 5)[:1], model.recommend(history, 1))  # a ranking: top 1 of top 5
    with torch.no_grad():  # the picks outscore every other unseen item
        seq = torch.tensor(history[-4:] if not getattr(model, "cloze", False) else [*history[-3:], N_ITEMS + 1])
        scores = model.score(seq[None], torch.tensor([len(seq)]))[0]
    picked, unseen = set(model.recommend(history, 5).tolist()), set(range(1, N_ITEMS + 1)) - set(history)
    assert min(scores[list(picked)]) >= max(scores[list(unseen - picked)])
    with pytest.raises(ValueError, match=r"k must be in \[1, 8\]"):
        model.recommend(history, N_ITEMS)
    with pytest.raises(ValueError, match="empty"):
        model.recommend([], 3)
    with pytest.raises(ValueError, match="item ids must be"):
        model.recommend([0, 2], 3)


def test_recommend_from_a_run_directory_and_the_cli(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    cfg = override(RecTrainConfig(), arch="sasrec", data=str(data_dir), steps=2, batch_size=4, d_model=16,
                   progress=False, out_dir=str(out))
    train_rec(None, cfg)
    model, data = load_recommender(out)
    history = data.sequences[data.user_tokens.index("u2")]
    expected = model.recommend(history, 4).tolist()
    rows = recommend_for_user(out, "u2", k=4)
    assert [r[0] for r in rows] == [data.item_tokens[i] for i in expected]
    assert all(r[1].startswith("title: Film ") for r in rows)
    assert main(["rec", "recommend", "--checkpoint", str(out), "--user", "u2", "--k", "4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and lines[0].split()[:2] == ["1", rows[0][0]] and "title: Film" in lines[0]
    with pytest.raises(SystemExit):
        main(["rec", "recommend", "--checkpoint", str(out), "--user", "nobody"])
    assert "unknown user 'nobody'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["rec", "recommend", "--checkpoint", str(tmp_path), "--user", "u2"])
    assert "no results.json" in capsys.readouterr().err
