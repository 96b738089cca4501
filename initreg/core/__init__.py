"""The core layer: keys, bit kernels, the stream, initializers, fans, shapes, names, devices."""
