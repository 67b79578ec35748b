"""The pruning method's maths, in torch only: the density of the weights'
magnitudes, the quantile threshold and its derivative, the soft masks, and
the pools of hidden units."""
