"""Preprocessing computed on the device with builtin ops (text, hashing), as ``keras.ops`` functions."""
