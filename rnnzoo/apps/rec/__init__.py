"""Sequential recommendation: RecBole/MovieLens readers, leave-one-out and cold-start protocols, full-ranking
metrics, SASRec / BERT4Rec / GRU4Rec / popularity, any registry mixer as the sequence encoder, items as IDs or
text, Recformer, and top-k inference (``recommend``).

```python
from rnnzoo.apps.rec import RecConfig, RecTrainConfig, load_dataset, train_rec
data = load_dataset()                                                            # ml-100k from the recbole wheel
result = train_rec(data, RecTrainConfig(model=RecConfig(arch="sasrec"), epochs=50))  # {"test": {"hit@10": ...}}
```
"""

from rnnzoo.apps.rec.data import (
                                  Interactions,
                                  SequenceData,
                                  build_sequences,
                                  default_dataset_path,
                                  load_dataset,
                                  read_interactions,
)
from rnnzoo.apps.rec.metrics import rank_metrics, target_ranks
from rnnzoo.apps.rec.models import RecConfig, build_model
from rnnzoo.apps.rec.recommend import load_recommender, recommend, recommend_for_user
from rnnzoo.apps.rec.text import item_sentence, read_item_text, tokenize_items
from rnnzoo.apps.rec.train import RecTrainConfig, load_data, train_rec

__all__ = ["Interactions", "SequenceData", "build_sequences", "default_dataset_path", "load_dataset",
           "read_interactions", "rank_metrics", "target_ranks", "RecConfig", "build_model", "RecTrainConfig",
           "load_data", "train_rec", "recommend", "load_recommender", "recommend_for_user", "item_sentence",
           "read_item_text", "tokenize_items"]
