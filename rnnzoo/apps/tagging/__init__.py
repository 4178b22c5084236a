"""Character tagging of Python standard-library source with tokenize's token types, by any registry mixer made
bidirectional, with and without a global-context gate.

```python
from rnnzoo.apps.tagging import TagTrainConfig, train_tagger
result = train_tagger(TagTrainConfig())      # {"test": {"accuracy", "macro_f1", "f1": {tag: f1}}, ...}
```
"""

from rnnzoo.apps.tagging.data import TAGS, load_tag_data, tag_source
from rnnzoo.apps.tagging.metrics import tag_metrics
from rnnzoo.apps.tagging.models import Tagger, TaggerConfig
from rnnzoo.apps.tagging.train import TagTrainConfig, train_tagger

__all__ = ["TAGS", "load_tag_data", "tag_source", "tag_metrics", "Tagger", "TaggerConfig", "TagTrainConfig",
           "train_tagger"]
