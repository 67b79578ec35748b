"""Training with skorch: the net, its losses and callbacks, the optimizer."""
