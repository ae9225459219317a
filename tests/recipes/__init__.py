"""The recipe gallery (docs/recipes.md) checked against each recipe's own source: one module per
family of sources. Every oracle is the recipe's formula written out from its source (file and
function named at the oracle) or the installed library itself, never lrkit."""
