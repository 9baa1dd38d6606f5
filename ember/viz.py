"""Pictures of the computation graph (placeholder until torchviz-compatible make_dot lands)."""
