"""Named, measured fine-tuning recipes (YAML files in this folder); see docs/recipes.md."""

from mrlkit.recipes.catalog import recipe_names, recipe_summary, recipe_text, recipe_values

__all__ = ["recipe_names", "recipe_summary", "recipe_text", "recipe_values"]
