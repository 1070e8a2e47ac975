"""keras-io ``examples/timeseries/timeseries_weather_forecasting.py``: Jena climate, LSTM forecast.

The example standardizes its seven selected features (pressure, temperature, saturation vapour
pressure, vapour pressure deficit, specific humidity, air density, wind speed) with the training
split's mean and standard deviation in NumPy, then ``Input((120, 7))`` -> LSTM(32) -> Dense(1).
Here the same standardization is a Normalization(axis=-1) layer inside the model (adapted on the
training split), so the deployed model takes raw sensor values.
"""

from __future__ import annotations

import numpy as np

STEPS = 120  # 720 past observations (10-minute steps) sampled every 6th, as in the example
RANGES = {"p (mbar)": (960.0, 1020.0), "T (degC)": (-15.0, 30.0), "VPmax (mbar)": (2.0, 40.0), "VPdef (mbar)": (0.0, 25.0),
          "sh (g/kg)": (1.0, 15.0), "rho (g/m**3)": (1100.0, 1350.0), "wv (m/s)": (0.0, 10.0)}


def raw_inputs(n: int, rng) -> dict[str, np.ndarray]:
    low = np.array([r[0] for r in RANGES.values()], dtype="float32")
    high = np.array([r[1] for r in RANGES.values()], dtype="float32")
    start = rng.uniform(low, high, (n, 1, len(RANGES)))
    walk = np.cumsum(rng.normal(0.0, 0.02, (n, STEPS, len(RANGES))), axis=1) * (high - low)
    return {"observations": np.clip(start + walk, low, high).astype("float32")}


def build():
    import keras

    keras.utils.set_random_seed(35)
    normalizer = keras.layers.Normalization(axis=-1)
    normalizer.adapt(raw_inputs(64, np.random.default_rng(35))["observations"])
    inputs = keras.layers.Input(shape=(STEPS, len(RANGES)), name="observations")
    lstm_out = keras.layers.LSTM(32)(normalizer(inputs))
    outputs = keras.layers.Dense(1)(lstm_out)
    return keras.Model(inputs=inputs, outputs=outputs, name="timeseries_normalization")
