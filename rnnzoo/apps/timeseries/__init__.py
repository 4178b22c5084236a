"""Time series on real data shipped in wheels: forecasting (aeon, statsmodels series, a user's CSV) and
classification (UCR/UEA sets, a user's .ts pair) with any registry mixer, TPGN, Chimera or AR-Net, against
classical baselines computed here.

```python
from rnnzoo.apps.timeseries import ClassifyConfig, ForecastConfig, TSModelConfig, classify, forecast
forecast(ForecastConfig(data="airline", model=TSModelConfig(model="tpgn")))["test"]     # mae, mse, mase
classify(ClassifyConfig(data="gunpoint", model=TSModelConfig(model="lstm")))["test"]    # accuracy
```
"""

from rnnzoo.apps.timeseries.classify import ClassifyConfig, classify
from rnnzoo.apps.timeseries.classify import load_data as load_labelled_for
from rnnzoo.apps.timeseries.data import CLASSIFY_SETS, FORECAST_SETS, Labelled, Series, load_labelled, load_series
from rnnzoo.apps.timeseries.forecast import ForecastConfig, forecast
from rnnzoo.apps.timeseries.forecast import load_data as load_series_for
from rnnzoo.apps.timeseries.models import TSModelConfig, build_model

__all__ = ["ClassifyConfig", "classify", "load_labelled_for", "CLASSIFY_SETS", "FORECAST_SETS", "Labelled", "Series",
           "load_labelled", "load_series", "ForecastConfig", "forecast", "load_series_for", "TSModelConfig",
           "build_model"]
