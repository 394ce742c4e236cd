"""S1: per-pixel box prediction on the L x L pair map (targets, model, criterion, inference)."""
